/**
 * The JSON Schema of our seccomp section format, as an object (the same content as schema.json,
 * which the project's policy schema references; a test keeps the two identical).
 */
export const SECCOMP_SECTION_SCHEMA = {
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "sandbox-seccomp-section",
  "title": "sandbox seccomp section",
  "description": "A seccomp policy in the sandbox's own format. The most restrictive matching rule wins (kill_process > kill_thread > trap > errno > notify > trace > log > allow); when no rule matches, defaultAction applies. All conditions of a rule are ANDed.",
  "type": "object",
  "additionalProperties": false,
  "required": [
    "defaultAction"
  ],
  "properties": {
    "$schema": {
      "type": "string"
    },
    "comment": {
      "type": "string"
    },
    "defaultAction": {
      "$ref": "#/definitions/action"
    },
    "defaultErrno": {
      "$ref": "#/definitions/errno"
    },
    "badArchAction": {
      "description": "What a foreign ABI (i386, arm compat) or an x32 syscall gets. Must deny.",
      "enum": [
        "kill_process",
        "kill_thread",
        "trap",
        "errno"
      ]
    },
    "syscalls": {
      "type": "array",
      "items": {
        "$ref": "#/definitions/rule"
      }
    }
  },
  "dependencies": {
    "defaultErrno": {
      "properties": {
        "defaultAction": {
          "const": "errno"
        }
      }
    }
  },
  "definitions": {
    "action": {
      "enum": [
        "kill_process",
        "kill_thread",
        "trap",
        "errno",
        "notify",
        "trace",
        "log",
        "allow"
      ]
    },
    "errno": {
      "description": "An errno name (EPERM, ENOSYS, EAFNOSUPPORT...) or number 1..4095.",
      "oneOf": [
        {
          "type": "integer",
          "minimum": 1,
          "maximum": 4095
        },
        {
          "type": "string",
          "pattern": "^E[A-Z0-9]+$"
        }
      ]
    },
    "value": {
      "description": "An integer (negative = 64-bit two's complement), or a string: a constant name (TIOCSTI, AF_ALG, CLONE_NEWUSER...), a decimal/0x/0o/0b number, or several joined by '|'.",
      "oneOf": [
        {
          "type": "integer"
        },
        {
          "type": "string",
          "pattern": "^\\s*(-?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)|[A-Za-z_][A-Za-z0-9_]*)\\s*(\\|\\s*(-?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)|[A-Za-z_][A-Za-z0-9_]*)\\s*)*$"
        }
      ]
    },
    "condition": {
      "description": "eq..ge compare the argument with value; masked_eq: (arg & mask) == value; any_set: (arg & mask) != 0; none_set: (arg & mask) == 0.",
      "oneOf": [
        {
          "type": "object",
          "additionalProperties": false,
          "required": [
            "index",
            "op",
            "value"
          ],
          "properties": {
            "index": {
              "type": "integer",
              "minimum": 0,
              "maximum": 5
            },
            "op": {
              "enum": [
                "eq",
                "ne",
                "lt",
                "le",
                "gt",
                "ge"
              ]
            },
            "value": {
              "$ref": "#/definitions/value"
            }
          }
        },
        {
          "type": "object",
          "additionalProperties": false,
          "required": [
            "index",
            "op",
            "value",
            "mask"
          ],
          "properties": {
            "index": {
              "type": "integer",
              "minimum": 0,
              "maximum": 5
            },
            "op": {
              "const": "masked_eq"
            },
            "value": {
              "$ref": "#/definitions/value"
            },
            "mask": {
              "$ref": "#/definitions/value"
            }
          }
        },
        {
          "type": "object",
          "additionalProperties": false,
          "required": [
            "index",
            "op",
            "mask"
          ],
          "properties": {
            "index": {
              "type": "integer",
              "minimum": 0,
              "maximum": 5
            },
            "op": {
              "enum": [
                "any_set",
                "none_set"
              ]
            },
            "mask": {
              "$ref": "#/definitions/value"
            }
          }
        }
      ]
    },
    "rule": {
      "type": "object",
      "additionalProperties": false,
      "required": [
        "names",
        "action"
      ],
      "properties": {
        "names": {
          "description": "Syscall names and @groups (see the module README).",
          "type": "array",
          "minItems": 1,
          "items": {
            "type": "string",
            "pattern": "^@?[a-z0-9_-]+$"
          }
        },
        "action": {
          "$ref": "#/definitions/action"
        },
        "errno": {
          "$ref": "#/definitions/errno"
        },
        "data": {
          "type": "integer",
          "minimum": 0,
          "maximum": 65535
        },
        "args": {
          "type": "array",
          "maxItems": 16,
          "items": {
            "$ref": "#/definitions/condition"
          }
        },
        "comment": {
          "type": "string"
        }
      },
      "dependencies": {
        "errno": {
          "properties": {
            "action": {
              "const": "errno"
            }
          }
        },
        "data": {
          "properties": {
            "action": {
              "enum": [
                "trace",
                "trap"
              ]
            }
          }
        }
      }
    }
  }
} as const;
