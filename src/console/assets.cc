// The bundled console files, linked in by the assembler (see CMakeLists.txt).
#include <string_view>

#define WALDEN_EMBED(symbol, file)                                                            \
  __asm__(".section .rodata\n.balign 16\n.global " #symbol "\n" #symbol                       \
          ":\n"                                                                               \
          ".incbin \"" WALDEN_CONSOLE_ASSETS "/" file "\"\n.global " #symbol "_end\n" #symbol \
          "_end:\n.byte 0\n.previous\n");                                                     \
  extern "C" const char symbol[];                                                             \
  extern "C" const char symbol##_end[];

WALDEN_EMBED(walden_console_index_html, "index.html")
WALDEN_EMBED(walden_console_app_js, "app.js")
WALDEN_EMBED(walden_console_app_css, "app.css")

namespace walden::console {

std::string_view IndexHtml() { return {walden_console_index_html, walden_console_index_html_end}; }
std::string_view AppJs() { return {walden_console_app_js, walden_console_app_js_end}; }
std::string_view AppCss() { return {walden_console_app_css, walden_console_app_css_end}; }

}  // namespace walden::console
