use clap::Parser;

use xerosync::cli::Cli;

fn main() {
    // Die quietly on a closed pipe (`xerosync status | head`), as other
    // command-line tools do, instead of panicking inside println!.
    #[cfg(unix)]
    // SAFETY: restoring the default SIGPIPE action before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            std::process::exit(if err.use_stderr() { 2 } else { 0 });
        }
    };

    xerosync::output::init_logging(cli.global.verbose, cli.global.quiet);

    let code = match xerosync::commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            err.exit_code()
        }
    };
    std::process::exit(code);
}
