//===- Verify.cpp - --verify: a partitioned bundle against one device -------===//
#include "pmc/Driver/Verify.h"

#include "pmc/Runtime/Session.h"

#include <cmath>
#include <cstring>
#include <exception>
#include <random>
#include <sstream>

namespace {
/// Element `i` of `t` as a double (bool, integers, float32/float64; 16-bit
/// floats are rejected by the caller).
double element(const pmc::HostTensor &t, int64_t i) {
  const uint8_t *p = t.data.data();
  switch (t.dtype) {
  case pmc::DType::Bool:
  case pmc::DType::UInt8:
    return p[i];
  case pmc::DType::Int8:
    return reinterpret_cast<const int8_t *>(p)[i];
  case pmc::DType::Int16:
    return reinterpret_cast<const int16_t *>(p)[i];
  case pmc::DType::UInt16:
    return reinterpret_cast<const uint16_t *>(p)[i];
  case pmc::DType::Int32:
    return reinterpret_cast<const int32_t *>(p)[i];
  case pmc::DType::UInt32:
    return reinterpret_cast<const uint32_t *>(p)[i];
  case pmc::DType::Int64:
    return (double)reinterpret_cast<const int64_t *>(p)[i];
  case pmc::DType::UInt64:
    return (double)reinterpret_cast<const uint64_t *>(p)[i];
  case pmc::DType::Float32:
    return reinterpret_cast<const float *>(p)[i];
  case pmc::DType::Float64:
    return reinterpret_cast<const double *>(p)[i];
  default:
    return NAN;
  }
}

/// Random feed for `spec`: standard normal floats, 0/1 for integers and bools
/// (valid indices for any gather table of two rows or more).
pmc::HostTensor randomFeed(const pmc::runtime::TensorSpec &spec, std::mt19937_64 &rng) {
  pmc::HostTensor t;
  t.dtype = spec.dtype;
  t.shape = spec.shape;
  t.data.assign(t.numBytes(), 0);
  int64_t n = t.numElements();
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<int> bit(0, 1);
  for (int64_t i = 0; i < n; ++i) {
    switch (t.dtype) {
    case pmc::DType::Float32: {
      float v = (float)normal(rng);
      std::memcpy(&t.data[i * 4], &v, 4);
      break;
    }
    case pmc::DType::Float64: {
      double v = normal(rng);
      std::memcpy(&t.data[i * 8], &v, 8);
      break;
    }
    default:
      // Little-endian: the low byte carries the 0/1 value of any integer.
      t.data[i * pmc::dtypeSize(t.dtype)] = (uint8_t)bit(rng);
    }
  }
  return t;
}
} // namespace

bool pmc::verifyBundles(const std::string &partitioned, const std::string &reference,
                        double tolerance, VerifyReport &report) {
  std::ostringstream text;
  try {
    auto multi = runtime::Session::open(partitioned);
    auto single = runtime::Session::open(reference);
    std::mt19937_64 rng(20240611);
    std::map<std::string, HostTensor> feeds;
    for (const runtime::TensorSpec &spec : single->inputs()) {
      if (spec.dtype == DType::Float16 || spec.dtype == DType::BFloat16) {
        report.text = "--verify: input '" + spec.name +
                      "' is a 16-bit float, which --verify does not generate";
        return false;
      }
      feeds[spec.name] = randomFeed(spec, rng);
    }
    runtime::NamedOutputs got = multi->run(feeds);
    runtime::NamedOutputs want = single->run(feeds);
    if (got.size() != want.size()) {
      report.text = "--verify: the partitioned bundle has " + std::to_string(got.size()) +
                    " outputs, the 1-device bundle " + std::to_string(want.size());
      return false;
    }
    report.maxAbs = report.maxRel = 0;
    bool ok = true;
    for (size_t o = 0; o < got.size(); ++o) {
      const HostTensor &a = got[o].second, &b = want[o].second;
      if (a.shape != b.shape || a.dtype != b.dtype) {
        text << "output '" << got[o].first << "': " << dtypeName(a.dtype)
             << shapeToString(a.shape) << " on " << multi->devices()
             << " devices, " << dtypeName(b.dtype) << shapeToString(b.shape)
             << " on 1\n";
        ok = false;
        continue;
      }
      double maxAbs = 0, maxRel = 0;
      int64_t worst = -1;
      for (int64_t i = 0, n = a.numElements(); i < n; ++i) {
        double x = element(a, i), y = element(b, i);
        if (std::isnan(x) && std::isnan(y))
          continue;
        double diff = std::fabs(x - y);
        if (std::isnan(diff))
          diff = INFINITY;
        double rel = diff / std::max(std::fabs(y), 1e-30);
        if (diff > maxAbs)
          maxAbs = diff;
        if (rel > maxRel && std::fabs(y) > 1e-6)
          maxRel = rel;
        if (diff > tolerance * (1 + std::fabs(y)) && worst < 0)
          worst = i;
      }
      text << "output '" << got[o].first << "': max abs diff " << maxAbs
           << ", max rel diff " << maxRel;
      if (worst >= 0) {
        text << " (FAILED at element " << worst << ": " << element(a, worst) << " vs "
             << element(b, worst) << ", tolerance " << tolerance << ")";
        ok = false;
      }
      text << "\n";
      report.maxAbs = std::max(report.maxAbs, maxAbs);
      report.maxRel = std::max(report.maxRel, maxRel);
    }
    report.text = text.str();
    return ok;
  } catch (const std::exception &e) {
    report.text = std::string("--verify: running the bundles failed: ") + e.what() + "\n";
    report.runFailed = true;
    return false;
  }
}
