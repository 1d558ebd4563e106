#include "log/LogFields.h"

namespace parley::log {

namespace {
thread_local std::vector<LogFields::Field> threadFields;
}  // namespace

LogFields::Scope::Scope(std::initializer_list<Field> fields) : Scope(std::vector<Field>(fields)) {}

LogFields::Scope::Scope(const std::vector<Field>& fields) {
    for (const auto& field : fields) {
        if (!field.second.is_null()) {
            threadFields.push_back(field);
            ++added_;
        }
    }
}

LogFields::Scope::~Scope() {
    threadFields.resize(threadFields.size() - added_);
}

const std::vector<LogFields::Field>& LogFields::current() {
    return threadFields;
}

}  // namespace parley::log
