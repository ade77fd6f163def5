// Boost.JSON compiled into this library: Debian ships its headers but no
// library, and the sources must be built into exactly one translation unit.
#include <boost/json/src.hpp>
