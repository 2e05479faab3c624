// Output for people: aligned tables and "name  value" blocks, and how JSON values of the API
// are shown in them (times as UTC ISO-8601, inputs as compact JSON). Scripts use --json.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace proofbook::cli {

class Table {
 public:
  struct Column {
    std::string title;
    bool right = false;  // right-aligned (numbers)
  };
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  bool empty() const { return rows_.empty(); }
  // Titles, then the rows, columns two spaces apart; no trailing spaces.
  void Print(std::ostream& out) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// "name   value" lines, names padded to the longest.
void PrintFields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& fields);

// Epoch ms as "2026-11-25T05:00:00.123Z"; 0 as "-".
std::string FormatTime(int64_t epoch_ms);
// A JSON value for a cell: strings bare, numbers as digits, null as "-", anything else as
// compact JSON cut to `max` characters.
std::string Cell(const boost::json::value* v, std::size_t max = 80);
// The member `name` of `o` as a cell ("-" when absent).
std::string Cell(const boost::json::object& o, const char* name, std::size_t max = 80);
// The member `name` (epoch ms) of `o` as a time.
std::string TimeCell(const boost::json::object& o, const char* name);

}  // namespace proofbook::cli
