#pragma once
// One admin console connection: startup, SCRAM-SHA-256 authentication done
// by pgvalve itself, then simple queries, each a list of admin commands.
// It looks like a PostgreSQL session to psql: the database is "pgvalve".

#include <memory>
#include <string>

#include "admin/commands/command_context.h"
#include "proxy/byte_stream.h"
#include "proxy/client_address.h"
#include "proxy/connection_security.h"

namespace pgvalve::admin {

class AdminSession : public NoticeChannel {
 public:
  AdminSession(AdminServices& services, proxy::ByteStream client, proxy::ClientAddress address);

  Awaitable<void> Run();

  Awaitable<bool> Notice(std::string message, std::string detail) override;

 private:
  struct Message {
    char tag;
    std::vector<std::byte> body;
  };

  // The authenticated caller, or nullopt when the session must end.
  Awaitable<std::optional<AdminCaller>> Start();
  Awaitable<bool> Authenticate(const std::shared_ptr<const config::Config>& config,
                               const std::string& user);
  // Sends FATAL with the status's SQLSTATE; always false.
  Awaitable<bool> Refuse(const absl::Status& status);
  Awaitable<std::optional<Message>> ReadMessage();
  Awaitable<void> RunQuery(std::string_view query);
  Awaitable<bool> Flush();

  AdminServices& services_;
  proxy::ByteStream client_;
  proxy::ClientAddress address_;
  // What the transport proved about the client, for the access rules.
  proxy::ConnectionSecurity security_;
  std::optional<AdminCaller> caller_;
  // Output collected until the next flush (ReadyForQuery, a NOTICE).
  protocol::MessageWriter out_;
};

}  // namespace pgvalve::admin
