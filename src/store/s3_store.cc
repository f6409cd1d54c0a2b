#include "store/s3_store.h"

#include <curl/curl.h>
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <utility>

#include "common/checksum.h"
#include "common/strings.h"

namespace walden::store {
namespace {

std::string EncodeQueryValue(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string XmlUnescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool matched = false;
    for (const auto& [entity, c] : kEntities) {
      if (text.substr(i).starts_with(entity)) {
        out += c;
        i += entity.size() - 1;
        matched = true;
        break;
      }
    }
    if (!matched && text.substr(i).starts_with("&#")) {
      // Numeric references: &#39; or &#x27; (ASCII only, which is what servers escape).
      const size_t end = text.find(';', i);
      const bool hex = text.substr(i).starts_with("&#x");
      unsigned value = 0;
      const char* first = text.data() + i + (hex ? 3 : 2);
      const auto parsed =
          std::from_chars(first, text.data() + std::min(end, text.size()), value, hex ? 16 : 10);
      if (end != std::string_view::npos && parsed.ec == std::errc() && value < 0x80) {
        out += static_cast<char>(value);
        i = end;
        matched = true;
      }
    }
    if (!matched) out += '&';
  }
  return out;
}

// Every <tag>value</tag> inside `xml`, in order.
std::vector<std::string> XmlValues(std::string_view xml, std::string_view tag) {
  std::vector<std::string> values;
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  for (size_t at = xml.find(open); at != std::string_view::npos; at = xml.find(open, at)) {
    const size_t start = at + open.size();
    const size_t end = xml.find(close, start);
    if (end == std::string_view::npos) break;
    values.push_back(XmlUnescape(xml.substr(start, end - start)));
    at = end + close.size();
  }
  return values;
}

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

struct Upload {
  std::string_view data;
  size_t offset = 0;
  std::ifstream* file = nullptr;  // read instead of `data` when set
};

size_t ReadBody(char* buffer, size_t size, size_t count, void* in) {
  auto* upload = static_cast<Upload*>(in);
  if (upload->file) {
    upload->file->read(buffer, static_cast<std::streamsize>(size * count));
    if (upload->file->bad()) return CURL_READFUNC_ABORT;
    return static_cast<size_t>(upload->file->gcount());
  }
  const size_t n = std::min(size * count, upload->data.size() - upload->offset);
  std::memcpy(buffer, upload->data.data() + upload->offset, n);
  upload->offset += n;
  return n;
}

// "2026-11-21T06:13:37.000Z" → µs since 1970; 0 when it does not parse.
int64_t ParseIsoTime(const std::string& text) {
  std::tm tm{};
  int millis = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis) < 6) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000000 + millis * 1000;
}

bool Retryable(long status) { return status == 429 || status >= 500; }

}  // namespace

std::string EncodeKey(std::string_view key) {
  std::string out;
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Result<std::unique_ptr<S3Store>> S3Store::Open(S3Options options) {
  if (options.access_key.empty() || options.secret_key.empty()) {
    return Fail(ErrorKind::kConfig,
                "S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }
  std::unique_ptr<S3Store> store(new S3Store(std::move(options)));
  // Fail early and clearly when the bucket is missing or the keys are refused.
  auto probe = store->Request("GET", store->ObjectUrl("", "list-type=2&max-keys=1"), {},
                              "list bucket " + store->options_.bucket);
  if (!probe) return std::unexpected(probe.error());
  return store;
}

std::string S3Store::url() const {
  return "s3://" + options_.bucket + (options_.prefix.empty() ? "" : "/" + options_.prefix);
}

std::string S3Store::FullKey(std::string_view key) const {
  return options_.prefix.empty() ? std::string(key) : options_.prefix + "/" + std::string(key);
}

std::string S3Store::ObjectUrl(std::string_view key, std::string_view query) const {
  std::string base;
  if (options_.endpoint.empty()) {
    base = options_.path_style
               ? "https://s3." + options_.region + ".amazonaws.com/" + options_.bucket
               : "https://" + options_.bucket + ".s3." + options_.region + ".amazonaws.com";
  } else if (options_.path_style) {
    base = options_.endpoint + "/" + options_.bucket;
  } else {
    const size_t scheme = options_.endpoint.find("://") + 3;
    base = options_.endpoint.substr(0, scheme) + options_.bucket + "." +
           options_.endpoint.substr(scheme);
  }
  std::string url = base + "/" + EncodeKey(key);
  if (!query.empty()) url += "?" + std::string(query);
  return url;
}

Result<S3Store::Response> S3Store::Once(const std::string& method, const std::string& url,
                                        const Payload& body) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return Fail(ErrorKind::kInternal, "curl_easy_init failed");
  Response response;
  Upload upload{body.bytes};
  std::ifstream file;  // each attempt sends the file from its start
  if (!body.file.empty()) {
    file.open(body.file, std::ios::binary);
    if (!file) return Fail(ErrorKind::kIo, "cannot read " + body.file);
    upload.file = &file;
  }
  const std::string sha256 = body.file.empty() ? Sha256Hex(body.bytes) : body.file_sha256;
  const curl_off_t size =
      static_cast<curl_off_t>(body.file.empty() ? body.bytes.size() : body.file_size);
  const std::string sigv4 = "aws:amz:" + options_.region + ":s3";
  const std::string credentials = options_.access_key + ":" + options_.secret_key;
  curl_slist* raw_headers = nullptr;
  raw_headers = curl_slist_append(raw_headers, ("x-amz-content-sha256: " + sha256).c_str());
  if (!body.range.empty())
    raw_headers = curl_slist_append(raw_headers, ("Range: " + body.range).c_str());
  if (!options_.session_token.empty()) {
    raw_headers =
        curl_slist_append(raw_headers, ("x-amz-security-token: " + options_.session_token).c_str());
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(raw_headers,
                                                                      &curl_slist_free_all);
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(h, CURLOPT_USERPWD, credentials.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  // Called during connects and transfers: an interrupted store abandons the request.
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, this);
  curl_easy_setopt(
      h, CURLOPT_XFERINFOFUNCTION,
      +[](void* store, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
        return static_cast<S3Store*>(store)->interrupted() ? 1 : 0;
      });
  if (method == "PUT") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &ReadBody);
    curl_easy_setopt(h, CURLOPT_READDATA, &upload);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, size);
  } else if (method == "DELETE") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
  }
  const CURLcode code = curl_easy_perform(h);
  if (code != CURLE_OK) return Fail(ErrorKind::kConnection, curl_easy_strerror(code));
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Result<S3Store::Response> S3Store::Request(const std::string& method, const std::string& url,
                                           const Payload& body, const std::string& what) {
  static thread_local std::mt19937 random{std::random_device{}()};
  std::chrono::milliseconds backoff{100};
  for (int attempt = 1;; ++attempt) {
    if (interrupted())
      return Fail(ErrorKind::kConnection, "cannot " + what + ": walden is stopping");
    auto response = Once(method, url, body);
    const bool transient = !response || Retryable(response->status);
    if (!transient) {
      if (response->status < 300 || (response->status == 404 && method != "GET")) {
        return response;
      }
      const std::vector<std::string> codes = XmlValues(response->body, "Code");
      const std::string code = codes.empty() ? "" : codes.front();
      if (code == "NoSuchBucket") {
        return Fail(ErrorKind::kNotFound,
                    "bucket " + options_.bucket + " does not exist; create it or fix archive.url");
      }
      if (response->status == 403) {
        return Fail(ErrorKind::kPermission,
                    "access denied: cannot " + what + " (" + code +
                        "); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, archive.region and "
                        "the bucket policy");
      }
      if (response->status == 404) {
        return Fail(ErrorKind::kNotFound, "cannot " + what + ": no such object");
      }
      return Fail(ErrorKind::kIo,
                  fmt::format("cannot {}: HTTP {} {}", what, response->status, code));
    }
    const std::string reason =
        response ? fmt::format("HTTP {}", response->status) : response.error().message;
    if (attempt >= options_.max_attempts) {
      return Fail(ErrorKind::kConnection,
                  fmt::format("cannot {} after {} attempts: {}", what, attempt, reason));
    }
    std::uniform_int_distribution<int64_t> jitter(0, backoff.count() / 2);
    const auto delay = backoff + std::chrono::milliseconds(jitter(random));
    spdlog::warn("S3 {} failed ({}); retry {} in {} ms", what, reason, attempt, delay.count());
    for (auto until = std::chrono::steady_clock::now() + delay;
         !interrupted() && std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

Status S3Store::Put(std::string_view key, std::string_view data) {
  if (auto valid = ValidateKey(key); !valid) return valid;
  auto response = Request("PUT", ObjectUrl(FullKey(key)), {.bytes = data},
                          "put " + url() + "/" + std::string(key));
  if (!response) return std::unexpected(response.error());
  return {};
}

Status S3Store::PutFile(std::string_view key, const std::string& path) {
  if (auto valid = ValidateKey(key); !valid) return valid;
  // Hashed first (the signature covers the body), then sent in pieces.
  auto sha256 = Sha256OfFile(path);
  if (!sha256) return std::unexpected(sha256.error());
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return Fail(ErrorKind::kIo, "cannot read " + path + ": " + ec.message());
  auto response = Request("PUT", ObjectUrl(FullKey(key)),
                          {.file = path, .file_size = size, .file_sha256 = *sha256},
                          "put " + url() + "/" + std::string(key));
  if (!response) return std::unexpected(response.error());
  return {};
}

Result<std::string> S3Store::Get(std::string_view key) {
  if (auto valid = ValidateKey(key); !valid) return std::unexpected(valid.error());
  auto response =
      Request("GET", ObjectUrl(FullKey(key)), {}, "get " + url() + "/" + std::string(key));
  if (!response) return std::unexpected(response.error());
  return std::move(response->body);
}

Result<std::string> S3Store::GetRange(std::string_view key, int64_t offset, int64_t length) {
  if (auto valid = ValidateKey(key); !valid) return std::unexpected(valid.error());
  if (length <= 0) return std::string();
  const std::string what =
      fmt::format("get bytes {}-{} of {}/{}", offset, offset + length - 1, url(), key);
  auto response = Request("GET", ObjectUrl(FullKey(key)),
                          {.range = fmt::format("bytes={}-{}", offset, offset + length - 1)}, what);
  if (!response) return std::unexpected(response.error());
  // A store that ignores Range answers 200 with the whole object.
  if (response->status == 200 && std::cmp_greater_equal(response->body.size(), offset + length)) {
    return response->body.substr(static_cast<size_t>(offset), static_cast<size_t>(length));
  }
  if (response->status != 206 || std::cmp_not_equal(response->body.size(), length)) {
    return Fail(ErrorKind::kProtocol,
                fmt::format("cannot {}: the store answered HTTP {} with {} bytes", what,
                            response->status, response->body.size()));
  }
  return std::move(response->body);
}

Result<std::vector<ObjectInfo>> S3Store::List(std::string_view prefix) {
  std::vector<ObjectInfo> objects;
  const std::string full_prefix = FullKey(prefix);
  const size_t strip = options_.prefix.empty() ? 0 : options_.prefix.size() + 1;
  std::string token;
  while (true) {
    std::string query = "list-type=2&max-keys=" + std::to_string(options_.list_page_size) +
                        "&prefix=" + EncodeQueryValue(full_prefix);
    if (!token.empty()) query = "continuation-token=" + EncodeQueryValue(token) + "&" + query;
    auto response = Request("GET", ObjectUrl("", query), {}, "list " + url());
    if (!response) return std::unexpected(response.error());
    const auto keys = XmlValues(response->body, "Key");
    const auto sizes = XmlValues(response->body, "Size");
    const auto modified = XmlValues(response->body, "LastModified");
    for (size_t i = 0; i < keys.size() && i < sizes.size(); ++i) {
      auto size = ParseInt64(sizes[i]);
      if (!size) {
        return Fail(ErrorKind::kProtocol,
                    "list " + url() + ": the store sent size \"" + sizes[i] + "\" for " + keys[i]);
      }
      objects.push_back(
          {keys[i].substr(strip), *size, i < modified.size() ? ParseIsoTime(modified[i]) : 0});
    }
    const auto truncated = XmlValues(response->body, "IsTruncated");
    const auto next = XmlValues(response->body, "NextContinuationToken");
    if (truncated.empty() || truncated.front() != "true" || next.empty()) break;
    token = next.front();
  }
  std::sort(objects.begin(), objects.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return objects;
}

Status S3Store::Delete(std::string_view key) {
  if (auto valid = ValidateKey(key); !valid) return valid;
  auto response =
      Request("DELETE", ObjectUrl(FullKey(key)), {}, "delete " + url() + "/" + std::string(key));
  if (!response) return std::unexpected(response.error());
  return {};
}

}  // namespace walden::store
