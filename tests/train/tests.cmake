# train_tests reads stories260K through io and compares with plan's memory estimate (tests only: the
# train library links neither).
if(TARGET train_tests)
  target_link_libraries(train_tests PRIVATE bitsmith_io bitsmith_plan)
endif()

# The backward pass against PyTorch autograd on stories260K, one batch (tests/oracles/
# llama_train_torch.py; exit 77 = skipped when torch cannot be imported, here or in the HF venv).
add_executable(train_grad_dump ${CMAKE_CURRENT_LIST_DIR}/train_grad_dump_main.cc)
target_link_libraries(train_grad_dump PRIVATE bitsmith_train bitsmith_io bitsmith_warnings)
add_test(NAME train.torch_gradients
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/oracles/llama_train_torch.py
          --check $<TARGET_FILE:train_grad_dump> ${BITSMITH_SHARED_DIR}/models/stories260K/stories260K.bin
          ${BITSMITH_SHARED_DIR}/models/stories260K/tok512.bin ${PROJECT_BINARY_DIR}/train_torch_gradients)
set_tests_properties(train.torch_gradients PROPERTIES SKIP_RETURN_CODE 77 LABELS train TIMEOUT 300)
