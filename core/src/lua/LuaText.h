#pragma once

#include <lua.hpp>

namespace parley::lua {

// Adds the read-only table `parley.text` to the API table at `api` (installApi calls it):
//
//   parley.text.normalize(s [, spans]) -> text [, first, last]
//   parley.text.skeleton(s [, spans])  -> text [, first, last]
//
// normalize: NFKC, full Unicode case folding, default-ignorable characters removed; skeleton:
// the Unicode TR39 confusables skeleton of that (util/TextFolder.h). With spans = true, also two
// arrays: byte i of text was made from s:sub(first[i], last[i]). s: UTF-8, at most 1 MiB.
void installTextApi(lua_State* L, int api);

}  // namespace parley::lua
