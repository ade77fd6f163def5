#pragma once
// Every v3 message tag, once, with its name. Logic compares against these
// enumerators, never against bare characters: ClickHouse once sent 'C' where
// CloseComplete is '3', and a table is where such a slip is visible.

#include <string_view>

namespace pgvalve::protocol {

// X(enumerator, byte, name)
#define PGVALVE_FRONTEND_TAGS(X)         \
  X(kBind, 'B', "Bind")                  \
  X(kClose, 'C', "Close")                \
  X(kCopyData, 'd', "CopyData")          \
  X(kCopyDone, 'c', "CopyDone")          \
  X(kCopyFail, 'f', "CopyFail")          \
  X(kDescribe, 'D', "Describe")          \
  X(kExecute, 'E', "Execute")            \
  X(kFlush, 'H', "Flush")                \
  X(kFunctionCall, 'F', "FunctionCall")  \
  X(kParse, 'P', "Parse")                \
  X(kPassword, 'p', "PasswordMessage")   \
  X(kQuery, 'Q', "Query")                \
  X(kSync, 'S', "Sync")                  \
  X(kTerminate, 'X', "Terminate")

#define PGVALVE_BACKEND_TAGS(X)                               \
  X(kAuthentication, 'R', "Authentication")                   \
  X(kBackendKeyData, 'K', "BackendKeyData")                   \
  X(kBindComplete, '2', "BindComplete")                       \
  X(kCloseComplete, '3', "CloseComplete")                     \
  X(kCommandComplete, 'C', "CommandComplete")                 \
  X(kCopyData, 'd', "CopyData")                               \
  X(kCopyDone, 'c', "CopyDone")                               \
  X(kCopyInResponse, 'G', "CopyInResponse")                   \
  X(kCopyOutResponse, 'H', "CopyOutResponse")                 \
  X(kCopyBothResponse, 'W', "CopyBothResponse")               \
  X(kDataRow, 'D', "DataRow")                                 \
  X(kEmptyQueryResponse, 'I', "EmptyQueryResponse")           \
  X(kErrorResponse, 'E', "ErrorResponse")                     \
  X(kFunctionCallResponse, 'V', "FunctionCallResponse")       \
  X(kNegotiateProtocolVersion, 'v', "NegotiateProtocolVersion") \
  X(kNoData, 'n', "NoData")                                   \
  X(kNoticeResponse, 'N', "NoticeResponse")                   \
  X(kNotificationResponse, 'A', "NotificationResponse")       \
  X(kParameterDescription, 't', "ParameterDescription")       \
  X(kParameterStatus, 'S', "ParameterStatus")                 \
  X(kParseComplete, '1', "ParseComplete")                     \
  X(kPortalSuspended, 's', "PortalSuspended")                 \
  X(kReadyForQuery, 'Z', "ReadyForQuery")                     \
  X(kRowDescription, 'T', "RowDescription")

#define PGVALVE_TAG_ENUMERATOR(name, byte, text) name = byte,
enum class FrontendTag : char { PGVALVE_FRONTEND_TAGS(PGVALVE_TAG_ENUMERATOR) };
enum class BackendTag : char { PGVALVE_BACKEND_TAGS(PGVALVE_TAG_ENUMERATOR) };
#undef PGVALVE_TAG_ENUMERATOR

// "Unknown" for a byte that is not a tag of that direction.
constexpr std::string_view TagName(FrontendTag tag) {
  switch (tag) {
#define PGVALVE_TAG_CASE(name, byte, text) \
  case FrontendTag::name:                  \
    return text;
    PGVALVE_FRONTEND_TAGS(PGVALVE_TAG_CASE)
#undef PGVALVE_TAG_CASE
  }
  return "Unknown";
}

constexpr std::string_view TagName(BackendTag tag) {
  switch (tag) {
#define PGVALVE_TAG_CASE(name, byte, text) \
  case BackendTag::name:                   \
    return text;
    PGVALVE_BACKEND_TAGS(PGVALVE_TAG_CASE)
#undef PGVALVE_TAG_CASE
  }
  return "Unknown";
}

constexpr bool IsFrontendTag(char byte) {
  switch (static_cast<FrontendTag>(byte)) {
#define PGVALVE_TAG_CASE(name, b, text) case FrontendTag::name:
    PGVALVE_FRONTEND_TAGS(PGVALVE_TAG_CASE)
#undef PGVALVE_TAG_CASE
    return true;
  }
  return false;
}

constexpr bool IsBackendTag(char byte) {
  switch (static_cast<BackendTag>(byte)) {
#define PGVALVE_TAG_CASE(name, b, text) case BackendTag::name:
    PGVALVE_BACKEND_TAGS(PGVALVE_TAG_CASE)
#undef PGVALVE_TAG_CASE
    return true;
  }
  return false;
}

}  // namespace pgvalve::protocol
