// Untrusted images through libvips (Debian libvips-dev): the pixel count is checked on the
// header alone (libvips opens images lazily: nothing is decoded until pixels are asked for), so
// a small file that would decode to gigabytes is refused before it costs any memory.

#include "ImageProcessing.h"

#include <vips/vips.h>

#include <memory>
#include <mutex>
#include <string_view>

namespace parley::attachments {

namespace {

struct Unref {
    void operator()(VipsImage* image) const { g_object_unref(image); }
};
using Image = std::unique_ptr<VipsImage, Unref>;

std::string vipsError() {
    std::string message = vips_error_buffer();
    vips_error_clear();
    while (!message.empty() && message.back() == '\n') {
        message.pop_back();
    }
    return message;
}

// The loader libvips must have picked for each type: a PNG that libvips would open with another
// loader (ImageMagick's, say) is not what the magic bytes said.
const char* loaderFor(const std::string& mimeType) {
    if (mimeType == "image/jpeg") {
        return "jpegload";
    }
    if (mimeType == "image/png") {
        return "pngload";
    }
    if (mimeType == "image/webp") {
        return "webpload";
    }
    return nullptr;
}

int save(VipsImage* image, const std::string& mimeType, const std::string& path) {
    // "strip": no EXIF, XMP, IPTC, ICC profile or comment is written.
    if (mimeType == "image/jpeg") {
        return vips_jpegsave(image, path.c_str(), "strip", TRUE, "Q", 90, nullptr);
    }
    if (mimeType == "image/png") {
        return vips_pngsave(image, path.c_str(), "strip", TRUE, nullptr);
    }
    return vips_webpsave(image, path.c_str(), "strip", TRUE, "Q", 90, nullptr);
}

}  // namespace

void startImageLibrary() {
    static std::once_flag started;
    std::call_once(started, [] {
        if (VIPS_INIT("parleyd") != 0) {
            throw std::runtime_error("libvips did not start: " + vipsError());
        }
        vips_cache_set_max(0);
        vips_concurrency_set(1);
        vips_block_untrusted_set(TRUE);
    });
}

bool isProcessedImage(const std::string& mimeType) {
    return loaderFor(mimeType) != nullptr;
}

ProcessedImage processImage(const std::string& path, const std::string& mimeType,
                            const std::string& outputPrefix, const ImageLimits& limits) {
    const char* expectedLoader = loaderFor(mimeType);
    if (expectedLoader == nullptr) {
        throw ImageRefused("unsupported_type", "not an image type the server processes");
    }
    // Opening reads the header only. fail_on error: a truncated or corrupt image is refused
    // rather than half-decoded.
    Image header(vips_image_new_from_file(path.c_str(), "fail_on", VIPS_FAIL_ON_ERROR, nullptr));
    if (!header) {
        throw ImageRefused("unsupported_type", "the image cannot be read: " + vipsError());
    }
    const char* loader = nullptr;
    if (vips_image_get_string(header.get(), VIPS_META_LOADER, &loader) != 0 || loader == nullptr ||
        std::string_view(loader) != expectedLoader) {
        vips_error_clear();
        throw ImageRefused("unsupported_type", "the image is not the type its bytes claim");
    }
    const int64_t pixels =
        int64_t{vips_image_get_width(header.get())} * vips_image_get_height(header.get());
    if (pixels > limits.maxPixels) {
        throw ImageRefused("image_too_large", "the image has " + std::to_string(pixels) +
                                                  " pixels; the server takes at most " +
                                                  std::to_string(limits.maxPixels) +
                                                  " (scale it down)");
    }
    VipsImage* rotated = nullptr;
    if (vips_autorot(header.get(), &rotated, nullptr) != 0) {
        throw ImageRefused("unsupported_type", "the image cannot be decoded: " + vipsError());
    }
    const Image upright(rotated);
    ProcessedImage result;
    result.width = vips_image_get_width(upright.get());
    result.height = vips_image_get_height(upright.get());
    result.cleanedPath = outputPrefix + ".clean";
    // The saver is chosen by name, not by the file's suffix (it has none).
    if (save(upright.get(), mimeType, result.cleanedPath) != 0) {
        throw ImageRefused("unsupported_type", "the image cannot be decoded: " + vipsError());
    }
    VipsImage* small = nullptr;
    if (vips_thumbnail_image(upright.get(), &small, limits.thumbnailSize, "height",
                             limits.thumbnailSize, "size", VIPS_SIZE_DOWN, nullptr) != 0) {
        throw std::runtime_error("thumbnail: " + vipsError());
    }
    const Image thumbnail(small);
    result.thumbnailWidth = vips_image_get_width(thumbnail.get());
    result.thumbnailHeight = vips_image_get_height(thumbnail.get());
    result.thumbnailPath = outputPrefix + ".thumb";
    if (vips_webpsave(thumbnail.get(), result.thumbnailPath.c_str(), "strip", TRUE, "Q", 80,
                      nullptr) != 0) {
        throw std::runtime_error("thumbnail: " + vipsError());
    }
    return result;
}

}  // namespace parley::attachments
