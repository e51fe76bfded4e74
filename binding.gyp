{
  "targets": [
    {
      "target_name": "shmkit",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/mapping.cc",
        "native/fd.cc",
        "native/posix-shm.cc",
        "native/sysv-shm.cc",
        "native/memfd.cc",
        "native/fd-passing.cc",
        "native/futex.cc",
        "native/async-wait.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"]
    }
  ]
}
