#pragma once

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace parley::log {

// What the current thread is working on (the command's uid, op, request id, conv; a refusal's
// error code), for the JSON log format to put into fields of every line the thread writes
// meanwhile: a person searching an incident filters on them instead of parsing message texts.
// The text format ignores them (its messages say uid=... themselves). Thread-local, because
// parleyd's logger is synchronous: a line is formatted on the thread that writes it.
class LogFields {
  public:
    using Field = std::pair<std::string, nlohmann::json>;

    // Adds the fields for the lifetime of the scope; scopes nest. Null values are left out.
    class Scope {
      public:
        Scope(std::initializer_list<Field> fields);
        explicit Scope(const std::vector<Field>& fields);
        ~Scope();
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

      private:
        size_t added_ = 0;
    };

    // This thread's fields, outermost first (a key set twice: the innermost wins when written).
    static const std::vector<Field>& current();
};

}  // namespace parley::log
