# infer_tests reads real checkpoints through io (tests only: the infer library never links io).
if(TARGET infer_tests AND TARGET bitsmith_io)
  target_link_libraries(infer_tests PRIVATE bitsmith_io)
endif()
if(TARGET infer_tests)
  target_compile_definitions(infer_tests PRIVATE BITSMITH_PYTHON="${Python3_EXECUTABLE}")
endif()
