//===- BundleWrite.cpp - BundleImage -> file through BundleWriter ----------===//
//
// Compiled with exceptions: BundleWriter throws BundleError.
//
#include "pmc/Bundle/Bundle.h"
#include "pmc/Target/BundleEmitter.h"

bool pmc::writeBundleImage(const BundleImage &image, const std::string &path,
                           std::string &error) {
  try {
    bundle::BundleWriter writer;
    for (const BundleImage::Section &section : image.sections) {
      if (section.data)
        writer.addSectionRef(section.name, section.data, section.size);
      else
        writer.addSection(section.name, section.owned);
    }
    writer.write(path);
    return true;
  } catch (const std::exception &e) {
    error = e.what();
    return false;
  }
}
