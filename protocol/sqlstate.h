#pragma once
// SQLSTATE codes pgvalve itself reports, named as in PostgreSQL's errcodes.txt.

#include <string_view>

namespace pgvalve::protocol::sqlstate {

inline constexpr std::string_view kSuccessfulCompletion = "00000";
inline constexpr std::string_view kUnableToEstablishConnection = "08001";
inline constexpr std::string_view kConnectionFailure = "08006";
inline constexpr std::string_view kProtocolViolation = "08P01";
inline constexpr std::string_view kFeatureNotSupported = "0A000";
inline constexpr std::string_view kInvalidAuthorizationSpecification = "28000";
inline constexpr std::string_view kInvalidPassword = "28P01";
inline constexpr std::string_view kInvalidCatalogName = "3D000";
inline constexpr std::string_view kSyntaxError = "42601";
inline constexpr std::string_view kInsufficientPrivilege = "42501";
inline constexpr std::string_view kUndefinedObject = "42704";
inline constexpr std::string_view kInvalidParameterValue = "22023";
inline constexpr std::string_view kInvalidTextRepresentation = "22P02";
inline constexpr std::string_view kCharacterNotInRepertoire = "22021";
// A write refused by a standby, or by a former primary made read-only.
inline constexpr std::string_view kReadOnlySqlTransaction = "25006";
inline constexpr std::string_view kIdleInTransactionSessionTimeout = "25P03";
// A fleet's state changed by two instances at once: retry.
inline constexpr std::string_view kSerializationFailure = "40001";
inline constexpr std::string_view kTooManyConnections = "53300";
inline constexpr std::string_view kObjectNotInPrerequisiteState = "55000";
inline constexpr std::string_view kObjectInUse = "55006";
inline constexpr std::string_view kQueryCanceled = "57014";
inline constexpr std::string_view kAdminShutdown = "57P01";
inline constexpr std::string_view kCannotConnectNow = "57P03";
inline constexpr std::string_view kConfigFileError = "F0000";
inline constexpr std::string_view kInternalError = "XX000";

}  // namespace pgvalve::protocol::sqlstate
