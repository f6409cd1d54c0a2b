#include "cli/app.h"

int main(int argc, char** argv) { return walden::cli::Main(argc, argv); }
