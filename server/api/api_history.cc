// GET /v1/settlements and GET /v1/slashings: see api_history.h and schema/openapi.yaml.
#include "server/api/api_history.h"

#include <atomic>
#include <charconv>

#include "server/api/api_internal.h"
#include "server/base/limits.h"
#include "server/db/admin_lists.h"
#include "server/db/orders.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::Role;

namespace {

void ListRoute(ApiContext& ctx, const HttpRequest& req, Responder respond, History list) {
  auto who = Require(ctx, req, respond, {});
  if (!who) return;
  auto query = ParseQuery(req.query, {"limit", "cursor", "order"});
  if (!query) return respond(ErrorResponse(query.error()));
  HistoryFilter filter;
  filter.limit = kDefaultPageSize;
  for (const auto& [name, value] : *query) {
    PathParams one{{name, value}};
    auto n = PathId(one, name);
    if (!n) return respond(ErrorResponse(n.error()));
    if (name == "limit") filter.limit = std::min(*n, kMaxPageSize);
    if (name == "cursor") filter.cursor = *n;
    if (name == "order") filter.order = *n;
  }
  // Provers see what they were paid or slashed; sequencers what happened on their orders;
  // admins everything.
  filter.prover = who->role == Role::kProver ? who->account : 0;
  filter.owner = who->role == Role::kSequencer ? who->account : 0;
  RunDb(ctx.db, std::move(respond),
        [list, filter](DbSession& session) { return Json(ListHistory(session, list, filter)); });
}

// ---- Admin listings ------------------------------------------------------------------------

// Cursors are opaque to clients: a version byte and the key, in hex ("01" + 16 digits). Only
// what EncodeCursor made decodes.
std::string EncodeCursor(int64_t key) {
  char out[19] = "01";
  auto u = static_cast<uint64_t>(key);
  for (int i = 17; i >= 2; --i, u >>= 4) out[i] = "0123456789abcdef"[u & 15];
  return std::string(out, 18);
}

Result<int64_t> DecodeCursor(std::string_view text) {
  uint64_t key = 0;
  auto [ptr, ec] = std::from_chars(text.data() + std::min<std::size_t>(2, text.size()),
                                   text.data() + text.size(), key, 16);
  if (text.size() != 18 || !text.starts_with("01") || ec != std::errc() ||
      ptr != text.data() + text.size() || key == 0 || key > INT64_MAX) {
    return Status(StatusCode::kInvalidArgument,
                  "cursor is not one this server gave out (use next_cursor as it is)", "cursor");
  }
  return static_cast<int64_t>(key);
}

// The name of a list's detail filter: what its rows call the kind of event.
const char* DetailName(AdminList list) {
  switch (list) {
    case AdminList::kSettlements:
      return "kind";
    case AdminList::kOrders:
      return "status";
    case AdminList::kSlashings:
    case AdminList::kLedger:
      break;
  }
  return "reason";
}

struct AdminQuery {
  AdminFilter filter;
  bool csv = false;
};

Result<AdminQuery> ParseAdminQuery(const HttpRequest& req, AdminList list) {
  const char* detail = DetailName(list);
  auto query = ParseQuery(
      req.query, {"limit", "cursor", "account", "market", "order", "from", "to", "format", detail});
  if (!query) return query.error();
  AdminQuery out;
  AdminFilter& f = out.filter;
  f.limit = kDefaultPageSize;
  // Accept: text/csv, or ?format=csv for a browser's plain link.
  out.csv = req.accept.find("text/csv") != std::string::npos;
  for (const auto& [name, value] : *query) {
    if (name == "market") {
      f.market = value;
    } else if (name == detail) {
      f.detail = value;
    } else if (name == "format") {
      if (value != "csv" && value != "json") {
        return Status(StatusCode::kInvalidArgument, "format must be csv or json", "format");
      }
      out.csv = value == "csv";
    } else if (name == "cursor") {
      auto key = DecodeCursor(value);
      if (!key) return key.error();
      f.before = *key;
    } else {
      auto n = QueryInt(name, value);
      if (!n) return n.error();
      if (name == "limit") f.limit = std::clamp<int64_t>(*n, 1, kMaxPageSize);
      if (name == "account") f.account = *n;
      if (name == "order") f.order = *n;
      if (name == "from") f.from_ms = *n;
      if (name == "to") f.to_ms = *n;
    }
  }
  return out;
}

// A whole filtered list as CSV, kCsvRowsPerPiece rows at a time, each piece read by a database
// worker only once the one before is written: memory stays one piece whatever the length.
class CsvExport : public BodyStream, public std::enable_shared_from_this<CsvExport> {
 public:
  CsvExport(Database& db, AdminList list, AdminFilter filter)
      : db_(db), list_(list), filter_(std::move(filter)) {
    filter_.limit = kCsvRowsPerPiece;
  }

  void Next(Deliver deliver) override {
    if (!header_sent_) {
      header_sent_ = true;
      return deliver(AdminCsvHeader(list_), Then::kMore);
    }
    if (cancelled_.load()) return deliver("", Then::kEnd);
    auto shared = std::make_shared<Deliver>(std::move(deliver));
    db_.Run(
        "csv export",
        [self = shared_from_this(), shared](DbSession& session) {
          std::string piece;
          std::optional<int64_t> next = AppendAdminCsv(session, self->list_, self->filter_, piece);
          if (next) self->filter_.before = *next;
          (*shared)(std::move(piece), next ? Then::kMore : Then::kEnd);
        },
        [shared](const Status&) { (*shared)("", Then::kAbort); });
  }

  void Cancel() override { cancelled_.store(true); }

 private:
  static constexpr int64_t kCsvRowsPerPiece = 500;
  Database& db_;
  const AdminList list_;
  AdminFilter filter_;  // its cursor moves on with each piece
  bool header_sent_ = false;
  std::atomic<bool> cancelled_{false};
};

void AdminListRoute(ApiContext& ctx, const HttpRequest& req, Responder respond, AdminList list) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto query = ParseAdminQuery(req, list);
  if (!query) return respond(ErrorResponse(query.error()));
  if (query->csv) {
    HttpResponse r;
    r.content_type = "text/csv; charset=utf-8";
    r.headers.emplace_back("Content-Disposition",
                           "attachment; filename=\"" + std::string(AdminListName(list)) + ".csv\"");
    r.stream = std::make_shared<CsvExport>(ctx.db, list, query->filter);
    return respond(std::move(r));
  }
  RunDb(ctx.db, std::move(respond), [list, filter = query->filter](DbSession& session) {
    AdminPage page = ListAdmin(session, list, filter);
    json::object out{{AdminListName(list), std::move(page.rows)}};
    out["next_cursor"] = page.next ? json::value(EncodeCursor(*page.next)) : json::value(nullptr);
    return Json(out);
  });
}

}  // namespace

void RegisterHistoryApi(Router& router, ApiContext& ctx) {
  for (AdminList list :
       {AdminList::kSettlements, AdminList::kSlashings, AdminList::kLedger, AdminList::kOrders}) {
    router.Add("GET", "/v1/admin/" + std::string(AdminListName(list)),
               [&ctx, list](const HttpRequest& req, const PathParams&, Responder respond) {
                 AdminListRoute(ctx, req, std::move(respond), list);
               });
  }
  router.Add("GET", "/v1/settlements",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               ListRoute(ctx, req, std::move(respond), History::kSettlements);
             });
  router.Add("GET", "/v1/slashings",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               ListRoute(ctx, req, std::move(respond), History::kSlashings);
             });
}

}  // namespace proofbook::server
