#include "fork_marker.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>

namespace samering::client_detail {

ForkMarker::ForkMarker() : pid_(::getpid()) {
#ifdef MADV_WIPEONFORK
  const long page_size = ::sysconf(_SC_PAGESIZE);
  void* p =
      ::mmap(nullptr, static_cast<std::size_t>(page_size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p != MAP_FAILED) {
    if (::madvise(p, static_cast<std::size_t>(page_size), MADV_WIPEONFORK) == 0) {
      page_ = static_cast<Page*>(p);
      page_->armed = 1;
    } else {
      ::munmap(p, static_cast<std::size_t>(page_size));
    }
  }
#endif
}

ForkMarker::~ForkMarker() {
  if (page_) ::munmap(page_, static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)));
}

void ForkMarker::rearm() noexcept {
  pid_ = ::getpid();
  if (page_) page_->armed = 1;
}

}  // namespace samering::client_detail
