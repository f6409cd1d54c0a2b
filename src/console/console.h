// walden's web console (design §14) at `/` of `walden run`'s server: the SQL editor with
// the history cost preview, the table browser with live changes, live status charts,
// topics and the fleet map. Its files are built into the binary (no CDN, works offline);
// every request it makes goes to the same server, under the same rules as any client
// (docs/security.md): the token's cookie, X-Walden-Client on POSTs, no foreign origins.
// Thread-safety: the routes' handlers only read constant data.
#pragma once

#include <string_view>
#include <vector>

#include "server/http_server.h"

namespace walden::console {

// The bundled files (index.html, app.js, app.css).
std::string_view IndexHtml();
std::string_view AppJs();
std::string_view AppCss();

// GET / and /console/* (open: the page shows its login form when the API asks for the
// token; it holds no data of its own).
std::vector<server::Route> ConsoleRoutes();

}  // namespace walden::console
