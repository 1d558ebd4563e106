#pragma once

#include <string>

namespace parley::testing {

// A fresh directory under $TMPDIR (or /tmp), created with mkdtemp (mode 0700) and removed with
// everything in it when the object goes away.
class TempDir {
  public:
    explicit TempDir(const std::string& prefix = "parley-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }
    // path() + "/" + name; the file need not exist.
    std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

}  // namespace parley::testing
