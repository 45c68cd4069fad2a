// The broker's socket file: lock, stale-socket removal, bind with the configured mode.
#pragma once

#include <sys/types.h>

#include <string>

#include "samering/unique_fd.hpp"

namespace samering::broker {

// A bound, listening AF_UNIX socket and the lock that says a live broker owns the path.
struct ListenSocket {
  UniqueFd fd;
  UniqueFd lock;      // flock on "<path>.lock", held while the broker lives
  dev_t dev = 0;      // the socket file, to unlink it only if it is still ours
  ino_t ino = 0;
};

// 1. flock "<path>.lock" (LOCK_EX|LOCK_NB; mode 0600, refused unless the broker's uid owns it):
//    held by another process → refuse ("in use by a live broker"). 2. An existing path: a socket that accepts a connection → refuse; a socket that
//    refuses (stale) → unlink; anything else (a regular file, a directory) → refuse, never
//    removed. 3. bind with umask so that the file is created with `mode`, then chmod(mode).
// Throws std::runtime_error with the reason.
ListenSocket open_listen_socket(const std::string& path, unsigned mode, int backlog);

// Unlinks the socket file if it is still the one we bound (a newer broker may own the path).
void remove_listen_socket(const std::string& path, const ListenSocket& s);

}  // namespace samering::broker
