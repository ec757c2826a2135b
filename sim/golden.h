// Reads golden-vector directories written by `repq-hw golden` (docs/golden-vectors.md):
// manifest.toml (the [[file]] tables: path, name, shape, bits, signed) and the element files
// ($readmemh hex, one two's-complement element per line, row-major). Any problem ends the
// harness with exit status 2 and a message naming the file, the line and the tensor.
//
// Operand specifications (the harnesses' plusargs name tensors this way):
//   NAME        the whole tensor
//   NAME[i]     slice i of the leading axis (a head of [h, T, T] scores, say)
//   #VALUE      a decimal constant, broadcast (an identity requantization's m0, say)
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace golden {

[[noreturn]] inline void die(const std::string& msg) {
    std::fprintf(stderr, "GOLDEN ERROR: %s\n", msg.c_str());
    std::exit(2);
}

struct Entry {
    std::string path, name;
    std::vector<size_t> shape;
    unsigned bits = 0;
    bool is_signed = false;
    bool has_signed = false;
};

// A tensor's elements, sign-extended (signed) or zero-extended (unsigned).
struct Tensor {
    std::string name;               // as specified, slice included
    std::vector<size_t> shape;      // empty: a broadcast constant
    unsigned bits = 64;
    bool is_signed = true;
    std::vector<int64_t> v;

    bool constant() const { return shape.empty(); }
    size_t dim(size_t i) const { return i < shape.size() ? shape[i] : 0; }
    // Element i, or the constant.
    int64_t at(size_t i) const { return constant() ? v[0] : v[i]; }
    std::string type() const {
        if (constant()) return "constant";
        std::string s = (is_signed ? "s" : "u") + std::to_string(bits) + " [";
        for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
        return s + "]";
    }
    // Row-major index -> "[i, j, ..]".
    std::string index(size_t flat) const {
        std::vector<size_t> idx(shape.size());
        for (size_t d = shape.size(); d-- > 0;) {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
        std::string s = "[";
        for (size_t i = 0; i < idx.size(); i++) s += (i ? ", " : "") + std::to_string(idx[i]);
        return s + "]";
    }
};

inline std::string trim(const std::string& s) {
    size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
    return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

class Dir {
public:
    explicit Dir(const std::string& dir) : dir_(dir) {
        const std::string path = dir + "/manifest.toml";
        std::ifstream f(path);
        if (!f) die("cannot open " + path + " (not a golden directory?)");
        std::string line;
        size_t lineno = 0;
        Entry* cur = nullptr;
        std::vector<Entry> entries;
        bool format_ok = false;
        while (std::getline(f, line)) {
            lineno++;
            const std::string t = trim(line);
            const std::string where = path + ":" + std::to_string(lineno);
            if (t == "[[file]]") {
                entries.emplace_back();
                cur = &entries.back();
                continue;
            }
            if (!t.empty() && t[0] == '[') {
                cur = nullptr;  // another table
                continue;
            }
            const size_t eq = t.find('=');
            if (eq == std::string::npos) continue;
            const std::string key = trim(t.substr(0, eq)), val = trim(t.substr(eq + 1));
            if (!cur) {
                if (key == "format") format_ok = val == "\"repq-hw-golden\"";
                if (key == "format_version" && val != "1")
                    die(where + ": unknown format_version " + val);
                continue;
            }
            if (key == "path") cur->path = unquote(val, where);
            else if (key == "name") cur->name = unquote(val, where);
            else if (key == "bits") cur->bits = unsigned(number(val, where));
            else if (key == "signed") {
                if (val != "true" && val != "false") die(where + ": signed must be true or false");
                cur->is_signed = val == "true";
                cur->has_signed = true;
            } else if (key == "shape") {
                if (val.size() < 2 || val.front() != '[' || val.back() != ']')
                    die(where + ": shape must be a one-line array");
                std::stringstream ss(val.substr(1, val.size() - 2));
                std::string item;
                while (std::getline(ss, item, ','))
                    if (!trim(item).empty()) cur->shape.push_back(size_t(number(trim(item), where)));
            }
        }
        if (!format_ok) die(path + ": not a repq-hw golden manifest (format)");
        for (auto& e : entries) {
            if (e.name.empty() || e.path.empty() || e.bits == 0 || e.bits > 64 || !e.has_signed)
                die(path + ": a [[file]] table lacks name, path, bits or signed");
            files_[e.name] = e;
        }
    }

    const std::string& dir() const { return dir_; }
    bool has(const std::string& name) const { return files_.count(name) != 0; }

    // Loads an operand specification (see the top of this file).
    Tensor load(const std::string& spec) const {
        if (spec.empty()) die("empty operand specification");
        if (spec[0] == '#') {
            Tensor t;
            t.name = spec;
            t.v.push_back(number(spec.substr(1), "constant " + spec));
            return t;
        }
        std::string name = spec;
        long slice = -1;
        if (spec.back() == ']') {
            const size_t open = spec.rfind('[');
            if (open == std::string::npos) die("bad operand " + spec);
            name = spec.substr(0, open);
            slice = long(number(spec.substr(open + 1, spec.size() - open - 2), "slice of " + spec));
        }
        auto it = files_.find(name);
        if (it == files_.end()) die("tensor " + name + " is not in " + dir_ + "/manifest.toml");
        const Entry& e = it->second;
        Tensor t;
        t.name = spec;
        t.shape = e.shape;
        t.bits = e.bits;
        t.is_signed = e.is_signed;
        t.v = read_elements(e);
        if (slice >= 0) {
            if (e.shape.size() < 2 || size_t(slice) >= e.shape[0])
                die("slice " + spec + " is outside the leading axis of " + name + " " + t.type());
            const size_t inner = t.v.size() / e.shape[0];
            t.v = std::vector<int64_t>(t.v.begin() + slice * inner, t.v.begin() + (slice + 1) * inner);
            t.shape.erase(t.shape.begin());
        }
        return t;
    }

private:
    std::string dir_;
    std::map<std::string, Entry> files_;

    static std::string unquote(const std::string& v, const std::string& where) {
        if (v.size() < 2 || v.front() != '"' || v.back() != '"') die(where + ": expected a string");
        return v.substr(1, v.size() - 2);
    }
    static int64_t number(const std::string& v, const std::string& where) {
        char* end = nullptr;
        errno = 0;
        long long x = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || errno) die(where + ": expected an integer, found '" + v + "'");
        return int64_t(x);
    }

    std::vector<int64_t> read_elements(const Entry& e) const {
        const std::string path = dir_ + "/" + e.path;
        std::ifstream f(path);
        if (!f) die("cannot open " + path + " (tensor " + e.name + ")");
        size_t n = 1;
        for (size_t d : e.shape) n *= d;
        const unsigned digits = (e.bits + 3) / 4;
        std::vector<int64_t> v;
        v.reserve(n);
        std::string line;
        size_t lineno = 0;
        while (std::getline(f, line)) {
            lineno++;
            const std::string where = path + ":" + std::to_string(lineno) + " (tensor " + e.name + ")";
            if (line.size() != digits)
                die(where + ": " + std::to_string(line.size()) + " digits, expected " + std::to_string(digits));
            uint64_t x = 0;
            for (char c : line) {
                const int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                            : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
                if (d < 0) die(where + ": bad digit '" + std::string(1, c) + "'");
                x = (x << 4) | uint64_t(d);
            }
            if (e.bits < 64 && (x >> e.bits) != 0) die(where + ": value out of range for the width");
            int64_t s = int64_t(x);
            if (e.is_signed && e.bits < 64 && ((x >> (e.bits - 1)) & 1)) s = int64_t(x - (uint64_t(1) << e.bits));
            v.push_back(s);
        }
        if (v.size() != n)
            die(path + " (tensor " + e.name + "): " + std::to_string(v.size()) + " elements, shape needs " +
                std::to_string(n));
        return v;
    }
};

// Whether v is representable as a `bits`-bit integer of the given signedness.
inline bool fits(int64_t v, unsigned bits, bool is_signed) {
    if (bits >= 64) return true;
    if (is_signed) return v >= -(int64_t(1) << (bits - 1)) && v < (int64_t(1) << (bits - 1));
    return v >= 0 && v < (int64_t(1) << bits);
}

}  // namespace golden
