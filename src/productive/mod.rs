//! Reading Productive exports and talking to Productive's API.
