// Library version (independent of byte2bit::format_version). Kept in step with pyproject.toml.
#pragma once
#define BYTE2BIT_LIBRARY_VERSION "0.1.0"
