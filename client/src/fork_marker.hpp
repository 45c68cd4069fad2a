// ForkMarker: tells, without a system call, whether this process is a fork of the one that made
// the marker. A Client checks it before every operation (DESIGN.md "Fork safety").
#pragma once

#include <sys/types.h>
#include <unistd.h>

namespace samering::client_detail {

class ForkMarker {
 public:
  // Maps one private page with MADV_WIPEONFORK (Linux >= 4.14): a child sees it zeroed. Where
  // that is not available the marker falls back to comparing getpid() (one system call per check).
  ForkMarker();
  ~ForkMarker();
  ForkMarker(const ForkMarker&) = delete;
  ForkMarker& operator=(const ForkMarker&) = delete;

  // True in a process forked (directly or not) after the marker was made or last re-armed.
  bool forked() const noexcept { return page_ ? page_->armed == 0 : pid_ != ::getpid(); }
  // Makes the current process the marker's owner again.
  void rearm() noexcept;

 private:
  struct Page {
    volatile int armed;
  };
  Page* page_ = nullptr;
  pid_t pid_ = 0;
};

}  // namespace samering::client_detail
