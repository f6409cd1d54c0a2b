// Command-line entry point: parses arguments with CLI11, loads configuration (file,
// WALDEN_* environment, flags), sets up logging and runs one subcommand.
// Thread-safety: call once, from main.
#pragma once

namespace walden::cli {

int Main(int argc, char** argv);

}  // namespace walden::cli
