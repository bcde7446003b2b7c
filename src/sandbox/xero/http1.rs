//! Reads HTTP/1.1 requests from a connection and writes responses, for the
//! double's server. httparse parses the request head. This module handles
//! the rest: `Content-Length` and chunked bodies, `Expect: 100-continue`,
//! keep-alive and `HEAD`.

use std::io::{self, BufRead, Read, Write};

use super::server::{Incoming, Reply};

/// Maximum size of a request line plus headers. Larger heads get a 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Maximum number of request headers. More get a 431.
const MAX_HEADERS: usize = 100;
/// Maximum length of one chunk-size or trailer line in a chunked body.
const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;

/// A request read from a connection.
pub(crate) struct ReadRequest {
    pub incoming: Incoming,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
}

/// The reason no request could be read.
pub(crate) enum ReadError {
    /// The client closed the connection between requests.
    Closed,
    /// The connection failed or closed in the middle of a request.
    Io(io::Error),
    /// The request is malformed or unsupported. The server sends this
    /// response and closes the connection, because it cannot tell where the
    /// next request would start.
    Rejected(Reply),
}

impl From<io::Error> for ReadError {
    fn from(error: io::Error) -> ReadError {
        ReadError::Io(error)
    }
}

/// Reads the next request. `writer` is the same connection, used to send
/// `100 Continue` when the client waits for it before sending a body.
pub(crate) fn read_request(
    reader: &mut impl BufRead,
    writer: &mut impl Write,
) -> Result<ReadRequest, ReadError> {
    let head = read_head(reader)?;
    let mut header_slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut header_slots);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(bad_request("incomplete request head")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ReadError::Rejected(Reply::text(
                431,
                &format!("Request has more than {MAX_HEADERS} headers"),
            )))
        }
        Err(error) => return Err(bad_request(&format!("invalid request head: {error}"))),
    }

    let method = parsed.method.unwrap_or_default().to_ascii_uppercase();
    let target = parsed.path.unwrap_or_default().to_string();
    let version = parsed.version.unwrap_or(1);
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|header| {
            (
                header.name.to_ascii_lowercase(),
                String::from_utf8_lossy(header.value).into_owned(),
            )
        })
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };

    let keep_alive = match header("connection").map(str::to_ascii_lowercase) {
        Some(connection) if has_token(&connection, "close") => false,
        Some(connection) if has_token(&connection, "keep-alive") => true,
        _ => version == 1,
    };
    let transfer_encoding = header("transfer-encoding").map(str::to_ascii_lowercase);
    let content_length = header("content-length").map(str::trim);
    let waits_for_continue = version == 1
        && header("expect").is_some_and(|expect| expect.eq_ignore_ascii_case("100-continue"));

    let body = match (transfer_encoding, content_length) {
        (Some(encoding), _) => {
            // HTTP/1.1 requires chunked as the final transfer coding, and
            // the double decodes no other.
            if encoding.trim() != "chunked" {
                return Err(ReadError::Rejected(Reply::text(
                    501,
                    &format!("Transfer-Encoding {encoding} is not supported"),
                )));
            }
            send_continue(writer, waits_for_continue)?;
            read_chunked_body(reader)?
        }
        (None, Some(length)) => {
            let Ok(length) = length.parse::<u64>() else {
                return Err(bad_request(&format!("invalid Content-Length {length:?}")));
            };
            send_continue(writer, waits_for_continue && length > 0)?;
            read_exact_body(reader, length)?
        }
        (None, None) => Vec::new(),
    };

    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), query.to_string()),
        None => (target, String::new()),
    };
    Ok(ReadRequest {
        incoming: Incoming {
            method,
            path,
            query,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        },
        keep_alive,
    })
}

/// Writes `reply` with a `Content-Length`, a `Date` and, when the
/// connection is to close, `Connection: close`. A response to `HEAD` gets
/// the headers only.
pub(crate) fn write_reply(
    writer: &mut impl Write,
    reply: &Reply,
    method: &str,
    keep_alive: bool,
) -> io::Result<()> {
    let reason = reqwest::StatusCode::from_u16(reply.status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("");
    let mut message = format!("HTTP/1.1 {} {reason}\r\n", reply.status).into_bytes();
    for (name, value) in &reply.headers {
        // A line break in a header would split the response.
        if [name, value].iter().any(|text| text.contains(['\r', '\n'])) {
            tracing::warn!(header = %name, "Xero double: skipped a response header with a line break");
            continue;
        }
        message.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
    message.extend_from_slice(format!("Date: {date}\r\n").as_bytes());

    // 1xx, 204 and 304 responses never carry a body, so they get no
    // Content-Length either.
    let bodiless = matches!(reply.status, 100..=199 | 204 | 304);
    if !bodiless {
        message.extend_from_slice(format!("Content-Length: {}\r\n", reply.body.len()).as_bytes());
    }
    if !keep_alive {
        message.extend_from_slice(b"Connection: close\r\n");
    }
    message.extend_from_slice(b"\r\n");
    if !bodiless && method != "HEAD" {
        message.extend_from_slice(&reply.body);
    }
    writer.write_all(&message)?;
    writer.flush()
}

/// Reads the request line and headers up to and including the empty line.
/// Empty lines before the request line are skipped, as HTTP/1.1 servers
/// should.
fn read_head(reader: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut head = Vec::new();
    loop {
        let line_start = head.len();
        let budget = (MAX_HEAD_BYTES + 1 - head.len()) as u64;
        let read = reader.by_ref().take(budget).read_until(b'\n', &mut head)?;
        if read == 0 {
            if head.is_empty() {
                return Err(ReadError::Closed);
            }
            return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        if head.len() > MAX_HEAD_BYTES {
            return Err(ReadError::Rejected(Reply::text(
                431,
                &format!("Request head is longer than {MAX_HEAD_BYTES} bytes"),
            )));
        }
        let line = &head[line_start..];
        if line == b"\r\n" || line == b"\n" {
            if line_start == 0 {
                head.clear();
                continue;
            }
            return Ok(head);
        }
    }
}

fn read_exact_body(reader: &mut impl BufRead, length: u64) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    reader.by_ref().take(length).read_to_end(&mut body)?;
    if (body.len() as u64) < length {
        return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(body)
}

/// Decodes a chunked body. Chunk extensions and trailer fields are read and
/// ignored.
fn read_chunked_body(reader: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line = read_chunk_line(reader)?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let Ok(size) = u64::from_str_radix(size_text, 16) else {
            return Err(bad_request(&format!("invalid chunk size {size_text:?}")));
        };
        if size == 0 {
            while !read_chunk_line(reader)?.is_empty() {}
            return Ok(body);
        }
        body.extend(read_exact_body(reader, size)?);
        if !read_chunk_line(reader)?.is_empty() {
            return Err(bad_request("chunk data is longer than its size"));
        }
    }
}

/// Reads one line of a chunked body without its line break.
fn read_chunk_line(reader: &mut impl BufRead) -> Result<String, ReadError> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(MAX_CHUNK_LINE_BYTES as u64)
        .read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        if line.len() >= MAX_CHUNK_LINE_BYTES {
            return Err(bad_request("chunk line is too long"));
        }
        return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    let line = String::from_utf8_lossy(&line);
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn send_continue(writer: &mut impl Write, waits_for_continue: bool) -> io::Result<()> {
    if !waits_for_continue {
        return Ok(());
    }
    writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    writer.flush()
}

fn has_token(list: &str, token: &str) -> bool {
    list.split(',').any(|item| item.trim() == token)
}

fn bad_request(reason: &str) -> ReadError {
    ReadError::Rejected(Reply::text(400, &format!("Bad request: {reason}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(raw: &str) -> Result<(ReadRequest, Vec<u8>), ReadError> {
        let mut reader = io::BufReader::new(raw.as_bytes());
        let mut written = Vec::new();
        let request = read_request(&mut reader, &mut written)?;
        Ok((request, written))
    }

    fn read_ok(raw: &str) -> (ReadRequest, Vec<u8>) {
        match read(raw) {
            Ok(read) => read,
            Err(ReadError::Rejected(reply)) => panic!("rejected {raw:?} with {}", reply.status),
            Err(ReadError::Closed) => panic!("no request read from {raw:?}"),
            Err(ReadError::Io(error)) => panic!("reading {raw:?} failed: {error}"),
        }
    }

    fn rejected_status(raw: &str) -> u16 {
        match read(raw) {
            Err(ReadError::Rejected(reply)) => reply.status,
            Ok(_) => panic!("accepted {raw:?}"),
            Err(_) => panic!("failed without a response to {raw:?}"),
        }
    }

    #[test]
    fn request_with_length_body() {
        let (request, written) = read_ok(
            "POST /connect/token?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET",
        );

        assert_eq!(request.incoming.method, "POST");
        assert_eq!(request.incoming.path, "/connect/token");
        assert_eq!(request.incoming.query, "a=1");
        assert_eq!(request.incoming.body, "hello");
        assert_eq!(request.incoming.header("HOST"), Some("x"));
        assert!(request.keep_alive);
        assert!(written.is_empty());
    }

    #[test]
    fn request_with_chunked_body() {
        let raw = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                   3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n";
        let (request, _) = read_ok(raw);

        assert_eq!(request.incoming.body, "abcde");
    }

    #[test]
    fn continue_sent_before_body() {
        let raw = "PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok";
        let (request, written) = read_ok(raw);

        assert_eq!(request.incoming.body, "ok");
        assert_eq!(written, b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn connection_close_and_http10() {
        let (close, _) = read_ok("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        let (old, _) = read_ok("GET / HTTP/1.0\r\n\r\n");
        let (old_kept, _) = read_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");

        assert!(!close.keep_alive);
        assert!(!old.keep_alive);
        assert!(old_kept.keep_alive);
    }

    #[test]
    fn closed_and_truncated_connections() {
        assert!(matches!(read(""), Err(ReadError::Closed)));
        assert!(matches!(
            read("GET / HTTP/1.1\r\nHost"),
            Err(ReadError::Io(_))
        ));
        assert!(matches!(
            read("POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nshort"),
            Err(ReadError::Io(_))
        ));
    }

    #[test]
    fn malformed_requests_rejected() {
        assert_eq!(rejected_status("NOT A REQUEST\r\n\r\n"), 400);
        assert_eq!(
            rejected_status("POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n"),
            400
        );
        assert_eq!(
            rejected_status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            501
        );
        let many_headers = "X: y\r\n".repeat(MAX_HEADERS + 1);
        assert_eq!(
            rejected_status(&format!("GET / HTTP/1.1\r\n{many_headers}\r\n")),
            431
        );
    }

    #[test]
    fn reply_written_with_length() {
        let mut written = Vec::new();
        write_reply(&mut written, &Reply::text(404, "gone"), "GET", false).unwrap();
        let text = String::from_utf8(written).unwrap();

        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("\r\nContent-Length: 4\r\n"), "{text}");
        assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\ngone"), "{text}");
    }

    #[test]
    fn head_reply_has_no_body() {
        let mut written = Vec::new();
        write_reply(&mut written, &Reply::text(200, "body"), "HEAD", true).unwrap();
        let text = String::from_utf8(written).unwrap();

        assert!(text.contains("\r\nContent-Length: 4\r\n"), "{text}");
        assert!(!text.contains("Connection"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
    }
}
