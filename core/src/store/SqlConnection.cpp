#include "store/SqlConnection.h"

#include <charconv>

namespace parley::store {

bool SqlRow::isNull(size_t column) const {
    return std::holds_alternative<std::monostate>(columns_.at(column));
}

int64_t SqlRow::integer(size_t column) const {
    const SqlValue& value = columns_.at(column);
    if (const auto* number = std::get_if<int64_t>(&value)) {
        return *number;
    }
    if (const auto* text = std::get_if<std::string>(&value)) {
        int64_t number = 0;
        auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), number);
        if (error != std::errc()) {
            throw SqlError(SqlError::Kind::Other,
                           "column " + std::to_string(column) + " is not an integer: " + *text);
        }
        return number;
    }
    return 0;
}

std::string SqlRow::text(size_t column) const {
    const SqlValue& value = columns_.at(column);
    if (const auto* text = std::get_if<std::string>(&value)) {
        return *text;
    }
    if (const auto* number = std::get_if<int64_t>(&value)) {
        return std::to_string(*number);
    }
    return {};
}

std::optional<std::string> SqlRow::optionalText(size_t column) const {
    if (isNull(column)) {
        return std::nullopt;
    }
    return text(column);
}

}  // namespace parley::store
