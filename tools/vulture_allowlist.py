"""Names vulture cannot see used: ctypes fields and enum members the kernel side
reads by layout or value. Generated with vulture --make-whitelist, then reviewed."""

EMITTED  # unused variable (src/bee_trace/events/records.py:34)
UDP_UNAGGREGATED  # unused variable (src/bee_trace/events/records.py:37)
pytest_collection_modifyitems  # unused function (tests/conftest.py:32)
_fail_kernel_unavailable  # unused function (tests/conftest.py:46)
exc_type  # unused variable (tests/kernel/helpers.py:94)
tb  # unused variable (tests/kernel/helpers.py:96)
pytestmark  # unused variable (tests/kernel/test_file_monitor.py:31)
pytestmark  # unused variable (tests/kernel/test_memory_monitor.py:21)
pytestmark  # unused variable (tests/kernel/test_network_monitor.py:27)
pytestmark  # unused variable (tests/kernel/test_runtime.py:25)
restore_logging  # unused function (tests/unit/test_cli.py:362)
path_source  # ctypes field: tests write it as the kernel would
perf_buffers  # autouse fixture (tests/kernel/test_fallbacks.py): every test there forces perf buffers
kernel_with_task_regs  # autouse fixture (tests/unit/conftest.py): unit tests never ask the kernel
kernel_without_task_regs  # fixture named in usefixtures (tests/unit): a kernel before 5.15
