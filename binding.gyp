{
  "variables": {
    "zerocopy_sanitize%": "false"
  },
  "targets": [
    {
      "target_name": "zerocopy",
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "<!@(node -p \"Object.entries(require('./native/constants.json')).map(([k, v]) => 'ZC_CONST_' + k + '=' + v).join(' ')\")"
      ],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["zerocopy_sanitize=='true'", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }],
        ["OS=='linux'", {
          "sources": [
            "native/addon.cc",
            "native/errors.cc",
            "native/args.cc",
            "native/transfer.cc",
            "native/transfer_binding.cc",
            "native/capabilities.cc",
            "native/sigbus.cc",
            "native/mmap.cc",
            "native/mmap_binding.cc",
            "native/engine.cc",
            "native/send_strategies.cc",
            "native/broadcast.cc",
            "native/engine_binding.cc",
            "native/lease.cc",
            "native/lease_binding.cc",
            "native/socket.cc",
            "native/http_binding.cc",
            "native/watch.cc",
            "native/direct.cc",
            "native/direct_binding.cc"
          ]
        }, {
          "sources": ["native/unsupported.cc"]
        }]
      ]
    }
  ]
}
