# Builds libtensorflow-microlite.a from a TFLite Micro source tree without TFLM's own Makefile
# (which runs download scripts and a PIL-importing generator while it parses).
# Written by edgesdk; run as: make -C <source root> -f <this file> OUT=... SOURCES=... CXXFLAGS=...
# All variables are given on the command line by edgesdk.firmware.tflm_library.
CXX      ?= arm-none-eabi-g++
AR       ?= arm-none-eabi-ar
OUT      ?= build
SOURCES  ?= lib_sources.txt
SRCS     := $(shell cat $(SOURCES))
OBJS     := $(patsubst %.cc,$(OUT)/obj/%.o,$(SRCS))

$(OUT)/libtensorflow-microlite.a: $(OBJS)
	$(AR) rcs $@ $^
$(OUT)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@
