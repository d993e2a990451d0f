{
  # Built by scripts/build-native.mjs (node-gyp rebuild --directory native).
  # Flags come from flags.cjs: -O3 -march=native, or a portable build with FUNNEL_PORTABLE=1.
  "targets": [
    {
      "target_name": "funnel_native",
      "sources": ["src/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-O2"],
      "cflags_cc!": ["-O2"],
      "cflags": ["<!@(node flags.cjs)", "-pthread"],
      "cflags_cc": ["<!@(node flags.cjs)", "-pthread", "-std=c++17"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["<!@(node flags.cjs)", "-std=c++17"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "AdditionalOptions": ["/O2", "/std:c++17"] }
      }
    }
  ]
}
