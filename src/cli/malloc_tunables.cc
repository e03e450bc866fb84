#include "cli/malloc_tunables.h"

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

void set_malloc_tunables(char** argv) {
  std::string added;  // what this start-up adds; after the re-exec both are given: no loop
  auto add = [&](std::string_view setting) {
    if (!added.empty()) added.push_back(':');
    added.append(setting);
  };
  if (!glibc_tunable_given("glibc.malloc.hugetlb")) {
    // "[always]" needs no request and "[never]" refuses it; only "[madvise]" gains.
    std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string mode;
    std::getline(thp, mode);
    if (mode.find("[madvise]") != std::string::npos) add("glibc.malloc.hugetlb=1");
  }
  if (!glibc_tunable_given("glibc.malloc.top_pad")) add("glibc.malloc.top_pad=268435456");
  if (added.empty()) return;
  // Started through the dynamic loader (`ld-linux-x86-64.so.2 amstore ...`), /proc/self/exe
  // is the loader, which would take our first argument for the program to run.
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return;
  std::string_view path(exe, static_cast<size_t>(n));
  if (path.substr(path.rfind('/') + 1).rfind("ld-", 0) == 0) return;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  const std::string value = tunables && *tunables ? std::string(tunables) + ":" + added : added;
  if (setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  // The re-exec failed (no /proc, say): carry on with glibc's defaults, and keep the
  // environment of child processes as it was.
  if (tunables) setenv("GLIBC_TUNABLES", tunables, 1); else unsetenv("GLIBC_TUNABLES");
}

}  // namespace amstore
