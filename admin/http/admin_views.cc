#include "admin/http/admin_views.h"

#include <array>
#include <utility>
#include <vector>

#include "admin/commands/command_table.h"
#include "admin/commands/command_tokenizer.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/json_text.h"
#include "proxy/status_text.h"

namespace pgvalve::admin {
namespace {

using protocol::ColumnType;

struct View {
  std::string_view path;
  std::string_view statement;
};

constexpr std::array kViews = {
    View{"/v1/databases", "SHOW DATABASES"}, View{"/v1/clients", "SHOW CLIENTS"},
    View{"/v1/upstreams", "SHOW UPSTREAMS"}, View{"/v1/stats", "SHOW STATS"},
    View{"/v1/drains", "SHOW DRAINS"},       View{"/v1/cutovers", "SHOW CUTOVERS"},
    View{"/v1/limits", "SHOW LIMITS"},       View{"/v1/rules", "SHOW RULES"},
    View{"/v1/fleet", "SHOW FLEET"},
};

// A view reports no progress while it runs.
class NoNotices : public NoticeChannel {
 public:
  Awaitable<bool> Notice(std::string, std::string) override { co_return true; }
};

std::string CellJson(ColumnType type, const std::optional<std::string>& cell) {
  if (!cell) return "null";
  switch (type) {
    case ColumnType::kInt4:
    case ColumnType::kInt8:
    case ColumnType::kFloat8: return *cell;
    case ColumnType::kBool: return *cell == "t" ? "true" : "false";
    case ColumnType::kText: break;
  }
  return proxy::JsonQuoted(*cell);
}

HttpReply JsonError(unsigned status, const absl::Status& error) {
  return HttpReply{
      .status = status,
      .content_type = std::string(kJsonContentType),
      .body = "{\"error\":" + proxy::JsonQuoted(proxy::StatusText(error)) + ",\"sqlstate\":" +
              proxy::JsonQuoted(protocol::SqlStateOf(error)) + "}\n",
  };
}

}  // namespace

std::optional<std::string_view> ViewStatement(std::string_view path) {
  for (const View& view : kViews) {
    if (view.path == path) return view.statement;
  }
  return std::nullopt;
}

std::string ResultSetJson(const ResultSet& rows) {
  std::vector<std::string> keys;
  for (const Column& column : rows.columns()) keys.push_back(proxy::JsonQuoted(column.name) + ":");
  std::string json = "[";
  for (size_t row = 0; row < rows.row_count(); ++row) {
    json += row == 0 ? "\n{" : ",\n{";
    for (size_t column = 0; column < keys.size(); ++column) {
      if (column > 0) json += ',';
      json += keys[column];
      json += CellJson(rows.columns()[column].type, rows.Cell(row, column));
    }
    json += '}';
  }
  json += "\n]\n";
  return json;
}

Awaitable<HttpReply> AdminViews::Run(std::string_view statement, const AdminCaller& caller) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(statement);
  if (!tokens.ok()) co_return JsonError(500, tokens.status());
  NoNotices notices;
  CommandContext context{.services = services_, .caller = caller, .notices = notices};
  absl::StatusOr<CommandResult> result = co_await Dispatch(context, *tokens, statement);
  if (!result.ok()) {
    const bool denied = protocol::SqlStateOf(result.status()) == protocol::sqlstate::kInsufficientPrivilege;
    co_return JsonError(denied ? 403 : 500, result.status());
  }
  // A command that changes something (RELOAD) answers with its tag alone.
  if (!result->rows) {
    co_return HttpReply{.status = 200, .content_type = std::string(kJsonContentType),
                        .body = "{\"command\":" + proxy::JsonQuoted(result->command_tag) + "}\n"};
  }
  co_return HttpReply{.status = 200, .content_type = std::string(kJsonContentType),
                      .body = ResultSetJson(*result->rows)};
}

}  // namespace pgvalve::admin
