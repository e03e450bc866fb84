#include "storage/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace amstore {

std::string errno_text(const char* what, const std::string& name) {
  return std::string(what) + " " + name + ": " + std::strerror(errno);
}

bool write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool read_whole_file(const std::string& path, Bytes* out, std::string* error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = errno_text("open", path);
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    *error = errno_text("stat", path);
    ::close(fd);
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    *error = path + ": is a directory";
    ::close(fd);
    return false;
  }
  // The size is a hint (pipes and /proc files have none): read until end of file.
  out->clear();
  out->resize(S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) : 0);
  size_t done = 0;
  for (;;) {
    if (done == out->size()) out->resize(std::max<size_t>(4096, out->size() * 2));
    ssize_t r = ::read(fd, out->data() + done, out->size() - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      *error = errno_text("read", path);
      ::close(fd);
      return false;
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  out->resize(done);
  ::close(fd);
  return true;
}

bool replace_file(int dir_fd, const std::string& name, const std::string& tmp_name,
                  ByteView bytes, std::string* error) {
  int fd = ::openat(dir_fd, tmp_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = errno_text("create", tmp_name);
    return false;
  }
  if (!write_all(fd, bytes.data(), bytes.size()) || ::fsync(fd) != 0) {
    *error = errno_text("write", tmp_name);
    ::close(fd);
    ::unlinkat(dir_fd, tmp_name.c_str(), 0);
    return false;
  }
  ::close(fd);
  // The new file is complete and durable before it takes the old one's name; the directory
  // fsync makes the rename itself durable.
  if (::renameat(dir_fd, tmp_name.c_str(), dir_fd, name.c_str()) != 0) {
    *error = errno_text("rename", tmp_name);
    ::unlinkat(dir_fd, tmp_name.c_str(), 0);
    return false;
  }
  if (::fsync(dir_fd) != 0) {
    *error = errno_text("fsync the directory of", name);
    return false;
  }
  return true;
}

}  // namespace amstore
