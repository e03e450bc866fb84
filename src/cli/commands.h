// Subcommands of the `amstore` binary that live in their own files.
#pragma once

#include <CLI/CLI.hpp>

namespace amstore {

// `amstore serve`: the HTTP server (src/cli/serve.cc).
void add_serve_command(CLI::App& app);
// `amstore check`: reports what a data directory's files hold (src/cli/check.cc).
void add_check_command(CLI::App& app);

}  // namespace amstore
