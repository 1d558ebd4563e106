#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace parley::attachments {

// Why an image was refused: "image_too_large" (more pixels than allowed: a decompression bomb
// is refused from its header, before anything is decoded) or "unsupported_type" (not a JPEG,
// PNG or WebP libvips can decode).
class ImageRefused : public std::runtime_error {
  public:
    ImageRefused(std::string code, const std::string& message)
        : std::runtime_error(message), code_(std::move(code)) {}
    const std::string& code() const { return code_; }

  private:
    std::string code_;
};

struct ImageLimits {
    int64_t maxPixels = 40'000'000;  // width x height, read from the header
    int thumbnailSize = 256;         // the thumbnail fits in this square
};

struct ProcessedImage {
    int width = 0;  // after the orientation was applied
    int height = 0;
    int thumbnailWidth = 0;
    int thumbnailHeight = 0;
    // Written by processImage: the image without metadata, the thumbnail (WebP, no metadata).
    std::string cleanedPath;
    std::string thumbnailPath;
};

// Once per process, before processImage: libvips started frugally (no operation cache, so no
// file stays open once read; loaders libvips marks untrusted blocked).
void startImageLibrary();

// The image at `path` (a JPEG, PNG or WebP, as the magic bytes said) re-encoded in its own format
// without EXIF, XMP, ICC comments or any other metadata, turned upright by its EXIF orientation
// first, and a thumbnail. Writes `outputPrefix` + ".clean" and ".thumb"; throws ImageRefused, or
// std::runtime_error if libvips fails for another reason.
ProcessedImage processImage(const std::string& path, const std::string& mimeType,
                            const std::string& outputPrefix, const ImageLimits& limits);

// Whether processImage handles this (normalized) MIME type.
bool isProcessedImage(const std::string& mimeType);

}  // namespace parley::attachments
