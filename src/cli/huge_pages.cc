#include "cli/huge_pages.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace amstore {

bool glibc_tunable_given(std::string_view name) {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  return tunables && std::string_view(tunables).find(name) != std::string_view::npos;
}

void use_huge_pages_for_malloc(char** argv) {
  // Already chosen (by the user, or by our own re-exec): never loops.
  if (glibc_tunable_given("glibc.malloc.hugetlb")) return;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  std::string value = tunables ? tunables : "";
  // "[always]" needs no request and "[never]" refuses it; only "[madvise]" gains.
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  std::getline(thp, mode);
  if (mode.find("[madvise]") == std::string::npos) return;
  // Started through the dynamic loader (`ld-linux-x86-64.so.2 amstore ...`), /proc/self/exe
  // is the loader, which would take our first argument for the program to run.
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return;
  std::string_view path(exe, static_cast<size_t>(n));
  if (path.substr(path.rfind('/') + 1).rfind("ld-", 0) == 0) return;
  value = value.empty() ? "glibc.malloc.hugetlb=1" : value + ":glibc.malloc.hugetlb=1";
  if (setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  // The re-exec failed (no /proc, say): carry on with 4 KiB pages, and keep the environment
  // of child processes as it was.
  if (tunables) setenv("GLIBC_TUNABLES", tunables, 1); else unsetenv("GLIBC_TUNABLES");
}

}  // namespace amstore
