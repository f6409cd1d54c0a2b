#include "console/console.h"

namespace walden::console {
namespace {

server::Route File(std::string path, std::string_view body, std::string content_type) {
  return {.method = "GET",
          .path = std::move(path),
          .handler =
              [body, content_type = std::move(content_type)](const server::Request&) {
                server::Response response{.body = std::string(body), .content_type = content_type};
                response.headers["Cache-Control"] = "no-cache";
                response.headers["X-Content-Type-Options"] = "nosniff";
                // Only its own files and API; CodeMirror styles itself inline.
                response.headers["Content-Security-Policy"] =
                    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                    "frame-ancestors 'none'";
                return response;
              },
          .open = true};
}

}  // namespace

std::vector<server::Route> ConsoleRoutes() {
  return {File("/", IndexHtml(), "text/html; charset=utf-8"),
          File("/console/app.js", AppJs(), "text/javascript; charset=utf-8"),
          File("/console/app.css", AppCss(), "text/css; charset=utf-8")};
}

}  // namespace walden::console
