//! The `duro` binary: parses the command line and hands over to [`duro_host::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    duro_host::cli::main()
}
