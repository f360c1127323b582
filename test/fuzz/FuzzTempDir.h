//===- FuzzTempDir.h - the private temp folder of a fuzzer process ---------===//
//
// A harness writes each input to a file in $TMPDIR/<prefix>-<pid>-XXXXXX,
// removed at exit. A process killed by a crash (libFuzzer's -fork mode goes
// on after it) cannot remove its folder, so a new one first removes the
// folders of processes that no longer exist.
//
#ifndef PMC_TEST_FUZZ_FUZZTEMPDIR_H
#define PMC_TEST_FUZZ_FUZZTEMPDIR_H

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <string>
#include <unistd.h>

namespace pmc::fuzz {

/// Creates the folder (exits on failure); returns its path.
inline std::string makeFuzzTempDir(const std::string &prefix) {
  const char *env = std::getenv("TMPDIR");
  std::string tmp = env && *env ? env : "/tmp";
  if (DIR *d = ::opendir(tmp.c_str())) {
    std::string start = prefix + "-";
    while (dirent *e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name.compare(0, start.size(), start) != 0)
        continue;
      long pid = std::strtol(name.c_str() + start.size(), nullptr, 10);
      if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)) {
        std::string dir = tmp + "/" + name;
        if (DIR *inner = ::opendir(dir.c_str())) {
          while (dirent *f = ::readdir(inner))
            if (f->d_name[0] != '.')
              ::unlink((dir + "/" + f->d_name).c_str());
          ::closedir(inner);
        }
        ::rmdir(dir.c_str());
      }
    }
    ::closedir(d);
  }
  std::string tmpl = tmp + "/" + prefix + "-" + std::to_string(::getpid()) + "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return tmpl;
}

} // namespace pmc::fuzz

#endif // PMC_TEST_FUZZ_FUZZTEMPDIR_H
