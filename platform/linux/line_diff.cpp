#include "platform/linux/line_diff.h"

#include <algorithm>

namespace vigil::platform {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      out.push_back(text.substr(start));
      break;
    }
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

namespace {

struct Writer {
  LineDiff& d;
  std::size_t max;
  void line(char sign, std::string_view l) {
    if (sign == '+') ++d.lines_added;
    else ++d.lines_removed;
    if (d.truncated) return;
    // Room for this line and the "...\n" marker that a later cut would need.
    if (d.text.size() + l.size() + 2 + 4 > max) {
      d.text += "...\n";
      d.truncated = true;
      return;
    }
    d.text.push_back(sign);
    d.text.append(l);
    d.text.push_back('\n');
  }
};

}  // namespace

LineDiff line_diff(std::string_view old_text, std::string_view new_text, std::size_t max_bytes) {
  LineDiff d;
  Writer w{d, std::max<std::size_t>(max_bytes, 8)};
  auto a = split_lines(old_text), b = split_lines(new_text);
  std::size_t pre = 0;
  while (pre < a.size() && pre < b.size() && a[pre] == b[pre]) ++pre;
  std::size_t suf = 0;
  while (suf < a.size() - pre && suf < b.size() - pre && a[a.size() - 1 - suf] == b[b.size() - 1 - suf]) ++suf;
  std::size_t n = a.size() - pre - suf, m = b.size() - pre - suf;
  auto A = [&](std::size_t i) { return a[pre + i]; };
  auto B = [&](std::size_t j) { return b[pre + j]; };
  if (n == 0 || m == 0 || (n + 1) * (m + 1) > kMaxLcsCells) {
    for (std::size_t i = 0; i < n; ++i) w.line('-', A(i));
    for (std::size_t j = 0; j < m; ++j) w.line('+', B(j));
    return d;
  }
  // LCS table of suffixes: L[i][j] = LCS length of A[i..] and B[j..].
  std::vector<std::uint32_t> L((n + 1) * (m + 1), 0);
  auto at = [&](std::size_t i, std::size_t j) -> std::uint32_t& { return L[i * (m + 1) + j]; };
  for (std::size_t i = n; i-- > 0;)
    for (std::size_t j = m; j-- > 0;)
      at(i, j) = A(i) == B(j) ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
  // Walk it; collect each hunk's removals and additions, print removals first.
  std::vector<std::string_view> rm, add;
  auto flush = [&] {
    for (auto l : rm) w.line('-', l);
    for (auto l : add) w.line('+', l);
    rm.clear();
    add.clear();
  };
  std::size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && A(i) == B(j)) {
      flush();
      ++i;
      ++j;
    } else if (j < m && (i == n || at(i, j + 1) >= at(i + 1, j))) {
      add.push_back(B(j++));
    } else {
      rm.push_back(A(i++));
    }
  }
  flush();
  return d;
}

}  // namespace vigil::platform
