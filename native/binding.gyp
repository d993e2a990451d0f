{
  # Built by scripts/build-native.mjs (node-gyp rebuild --directory native).
  # Flags come from flags.cjs: -O3 -march=native, or a portable build with FUNNEL_PORTABLE=1.
  # C++ exceptions are on: the vendored hnswlib (src/hnswlib) reports errors by throwing, and
  # src/hnsw.h turns them into JavaScript errors.
  "targets": [
    {
      "target_name": "funnel_native",
      "sources": ["src/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-O2", "-fno-exceptions"],
      "cflags_cc!": ["-O2", "-fno-exceptions"],
      "cflags": ["<!@(node flags.cjs)", "-pthread"],
      "cflags_cc": ["<!@(node flags.cjs)", "-pthread", "-std=c++17"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["<!@(node flags.cjs)", "-std=c++17"],
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES"
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "AdditionalOptions": ["/O2", "/std:c++17"] }
      }
    }
  ]
}
