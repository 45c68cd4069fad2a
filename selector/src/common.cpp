// samering_strerror and samering_version (samering/common.h): the one list of status names, used
// by the C API, the client's to_string(Status) and every binding.
#include "samering/common.h"

extern "C" {

const char* samering_strerror(int code) {
  switch (code) {
    case SAMERING_OK: return "success";
    case SAMERING_NOT_FOUND: return "not found";
    case SAMERING_NOT_STORED: return "not stored";
    case SAMERING_EXISTS: return "exists (cas mismatch)";
    case SAMERING_EINVAL: return "invalid argument";
    case SAMERING_EKEY: return "bad key";
    case SAMERING_EDOWN: return "cannot connect (server or broker down)";
    case SAMERING_ETIMEDOUT: return "timeout";
    case SAMERING_ETOOLARGE: return "value too large";
    case SAMERING_ESERVER: return "server error";
    case SAMERING_ECONNLOST: return "connection lost";
    case SAMERING_EPROTO: return "protocol error";
    case SAMERING_ENOMEM: return "out of memory";
    case SAMERING_EINTERNAL: return "internal error";
    case SAMERING_ESPEC: return "invalid spec";
    case SAMERING_EIO: return "cannot read the file";
    case SAMERING_EIMAGE: return "invalid ring image";
    case SAMERING_EBROKER: return "the broker answered with an error";
    default: return "unknown status code";
  }
}

const char* samering_version(void) { return SAMERING_VERSION_STRING; }

int samering_version_number(void) { return SAMERING_VERSION_NUMBER; }

}  // extern "C"
