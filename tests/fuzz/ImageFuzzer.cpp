// libFuzzer target: the attachments plugin's image path (plugins/attachments/ImageProcessing),
// fed any bytes as an uploaded file: libmagic decides the type as at commit, and a JPEG, PNG or
// WebP goes through libvips (header, pixel bound, orientation, metadata stripped, thumbnail).
// Besides the sanitizers, it checks what the path promises: an image that passes has positive
// dimensions within the pixel bound, and refusals carry one of the two codes the client may get.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "Content.h"
#include "ImageProcessing.h"

namespace {

using parley::attachments::ImageLimits;
using parley::attachments::ImageRefused;

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "broken promise: %s\n", what);
    std::abort();
}

const std::string& workFolder() {
    static const std::string folder = [] {
        std::string pattern = std::filesystem::temp_directory_path() / "parley-fuzz-image-XXXXXX";
        if (mkdtemp(pattern.data()) == nullptr) {
            broken("no temporary folder");
        }
        return pattern;
    }();
    return folder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    parley::attachments::startImageLibrary();
    const std::string input = workFolder() + "/input";
    {
        std::ofstream out(input, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    const std::string mime = parley::attachments::sniffMimeType(input);
    if (!parley::attachments::isProcessedImage(mime)) {
        return 0;
    }
    ImageLimits limits;
    limits.maxPixels = 4'000'000;  // a fuzzer's bomb must be refused, not decoded
    limits.thumbnailSize = 32;
    try {
        const auto image =
            parley::attachments::processImage(input, mime, workFolder() + "/out", limits);
        if (image.width <= 0 || image.height <= 0 ||
            int64_t{image.width} * image.height > limits.maxPixels) {
            broken("an accepted image has dimensions outside the bound");
        }
    } catch (const ImageRefused& refused) {
        if (refused.code() != "image_too_large" && refused.code() != "unsupported_type") {
            broken("a refusal with a code the client cannot get");
        }
    } catch (const std::runtime_error&) {
        // libvips failing on a thumbnail of a decodable image: "unavailable" for the client.
    }
    std::filesystem::remove(workFolder() + "/out.clean");
    std::filesystem::remove(workFolder() + "/out.thumb");
    return 0;
}
