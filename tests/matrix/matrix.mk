# The exhaustive permission matrix (tests/matrix/matrix.c) against the
# reference model (tests/model/), built hosted and under ASan+UBSan.  The
# model's objects are named by path: tests/model/model.mk, which has their
# rules, is included after this fragment.
MATRIX_HDRS := tests/model/refmodel.h $(wildcard tests/support/*.h) $(ENGINE_HDRS)
MATRIX_INC  := $(TEST_INC) -Itests/model

.PHONY: matrix
matrix: $(BUILD)/hosted/tests/matrix/matrix $(BUILD)/san/tests/matrix/matrix
all: matrix

$(BUILD)/hosted/tests/matrix/obj/matrix.o: tests/matrix/matrix.c $(MATRIX_HDRS)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) $(MATRIX_INC) -c $< -o $@
$(BUILD)/san/tests/matrix/obj/matrix.o: tests/matrix/matrix.c $(MATRIX_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(MATRIX_INC) -c $< -o $@

$(BUILD)/hosted/tests/matrix/matrix: $(BUILD)/hosted/tests/matrix/obj/matrix.o \
		$(BUILD)/hosted/tests/model/refmodel.o $(TESTSUPPORT_OBJS) $(ENGINE_LIB)
	$(CC) $(HOSTED_CFLAGS) $^ -o $@
$(BUILD)/san/tests/matrix/matrix: $(BUILD)/san/tests/matrix/obj/matrix.o \
		$(BUILD)/san/tests/model/refmodel.o $(TESTSUPPORT_SAN_OBJS) $(ENGINE_SAN_LIB)
	$(CC) $(SAN_CFLAGS) $^ -o $@
