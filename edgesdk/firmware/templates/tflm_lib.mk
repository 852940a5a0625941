# Builds libtensorflow-microlite.a from a TFLite Micro source tree without TFLM's own Makefile
# (which runs download scripts and a PIL-importing generator while it parses).
# Written by edgesdk; run as: make -C <source root> -f <this file> OUT=... SOURCES=... CXXFLAGS=...
# All variables are given on the command line by edgesdk.firmware.tflm.library. SOURCES lists
# .cc files (TFLite Micro) and .c files (CMSIS-NN), relative to the source root.
CXX      ?= arm-none-eabi-g++
CC       ?= arm-none-eabi-gcc
AR       ?= arm-none-eabi-ar
OUT      ?= build
SOURCES  ?= lib_sources.txt
SRCS     := $(shell cat $(SOURCES))
OBJS     := $(patsubst %,$(OUT)/obj/%.o,$(SRCS))

$(OUT)/libtensorflow-microlite.a: $(OBJS)
	$(AR) rcs $@ $^
$(OUT)/obj/%.cc.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@
$(OUT)/obj/%.c.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
