# The CUDA toolkit pieces of a pip CUDA torch (included by CMakeLists.txt before enable_language(CUDA)).
#
# A CUDA torch wheel from PyPI ships no CUDA headers and no NCCL: they come from the NVIDIA packages
# it depends on (nvidia-nccl-cu13, cuda-toolkit[cudart,cublas,...] -> nvidia-cuda-runtime, ...),
# installed under site-packages/nvidia/. scripts/torch-cuda-deps.py lists their include and library
# directories from package metadata (importlib.metadata over torch's requirements), plus nvcc when
# `cuda-toolkit[nvcc,cccl]` of the same release is installed. Sets:
#   GTR_PIP_CUDA_INCLUDE_DIRS, GTR_PIP_CUDA_LIBRARY_DIRS  (empty for a torch not from pip)
#   GTR_NCCL_INCLUDE_DIR  the directory of nccl.h (pip package, else the toolkit), or unset
#   GTR_TORCH_CUDA_MAJOR  torch.version.cuda's major version
# and, when no CUDA compiler was chosen (CMAKE_CUDA_COMPILER / CUDACXX / nvcc on PATH) but the pip
# nvcc is installed, a toolkit root in the build tree (build/.../pip-cuda) made of links to the pip
# packages' bin/, nvvm/, include/ and lib/ (with the unversioned libX.so names that CMake's
# FindCUDAToolkit and torch's FindCUDA look for), used as CMAKE_CUDA_COMPILER / CUDAToolkit_ROOT.
if(NOT GTR_PYTHON)
  if(DEFINED ENV{PYTHON})
    set(GTR_PYTHON "$ENV{PYTHON}")
  else()
    set(GTR_PYTHON python3)
  endif()
endif()
execute_process(
  COMMAND "${GTR_PYTHON}" "${CMAKE_SOURCE_DIR}/scripts/torch-cuda-deps.py"
  OUTPUT_VARIABLE _gtr_deps
  ERROR_VARIABLE _gtr_deps_err
  RESULT_VARIABLE _gtr_deps_rc)
if(NOT _gtr_deps_rc EQUAL 0)
  message(FATAL_ERROR "gtr: scripts/torch-cuda-deps.py failed with ${GTR_PYTHON}: ${_gtr_deps_err}")
endif()
set(GTR_PIP_CUDA_INCLUDE_DIRS "")
set(GTR_PIP_CUDA_LIBRARY_DIRS "")
set(_gtr_pip_nvcc "")
set(_gtr_pip_packages "")
string(REPLACE "\n" ";" _gtr_lines "${_gtr_deps}")
foreach(_line IN LISTS _gtr_lines)
  if(_line MATCHES "^include=(.*)$")
    list(APPEND GTR_PIP_CUDA_INCLUDE_DIRS "${CMAKE_MATCH_1}")
  elseif(_line MATCHES "^lib=(.*)$")
    list(APPEND GTR_PIP_CUDA_LIBRARY_DIRS "${CMAKE_MATCH_1}")
  elseif(_line MATCHES "^nvcc=(.*)$")
    set(_gtr_pip_nvcc "${CMAKE_MATCH_1}")
  elseif(_line MATCHES "^nccl_include=(.*)$")
    set(GTR_NCCL_INCLUDE_DIR "${CMAKE_MATCH_1}")
  elseif(_line MATCHES "^torch_cuda=([0-9]+)")
    set(GTR_TORCH_CUDA_MAJOR "${CMAKE_MATCH_1}")
  elseif(_line MATCHES "^package=(.*)$")
    list(APPEND _gtr_pip_packages "${CMAKE_MATCH_1}")
  endif()
endforeach()
if(_gtr_pip_packages)
  list(LENGTH _gtr_pip_packages _n)
  message(STATUS "gtr: ${_n} NVIDIA pip packages of torch (${GTR_PYTHON}): include and library directories added")
endif()

find_program(_gtr_path_nvcc nvcc)
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND _gtr_pip_nvcc)
  # A toolkit root of links. nvcc itself finds its headers from its real location (TOP = ..).
  set(_root "${CMAKE_BINARY_DIR}/pip-cuda")
  file(REMOVE_RECURSE "${_root}")
  file(MAKE_DIRECTORY "${_root}/bin" "${_root}/include" "${_root}/lib64")
  get_filename_component(_bin "${_gtr_pip_nvcc}" DIRECTORY)
  get_filename_component(_top "${_bin}" DIRECTORY)
  # bin/ is a real directory of links: nvcc takes TOP = bin/.. , which must be this root (a linked
  # bin/ would resolve `..` to the pip package, which has lib/ but no lib64/ nor the unversioned names).
  file(GLOB _entries RELATIVE "${_bin}" "${_bin}/*")
  foreach(_e IN LISTS _entries)
    file(CREATE_LINK "${_bin}/${_e}" "${_root}/bin/${_e}" SYMBOLIC)
  endforeach()
  if(EXISTS "${_top}/nvvm")
    file(CREATE_LINK "${_top}/nvvm" "${_root}/nvvm" SYMBOLIC)
  endif()
  file(CREATE_LINK "lib64" "${_root}/lib" SYMBOLIC)
  foreach(_dir IN LISTS GTR_PIP_CUDA_INCLUDE_DIRS)
    file(GLOB _entries RELATIVE "${_dir}" "${_dir}/*")
    foreach(_e IN LISTS _entries)
      if(NOT EXISTS "${_root}/include/${_e}" AND NOT IS_SYMLINK "${_root}/include/${_e}")
        file(CREATE_LINK "${_dir}/${_e}" "${_root}/include/${_e}" SYMBOLIC)
      endif()
    endforeach()
  endforeach()
  foreach(_dir IN LISTS GTR_PIP_CUDA_LIBRARY_DIRS)
    file(GLOB _libs RELATIVE "${_dir}" "${_dir}/lib*.so*" "${_dir}/lib*.a")
    foreach(_l IN LISTS _libs)
      if(NOT EXISTS "${_root}/lib64/${_l}")
        file(CREATE_LINK "${_dir}/${_l}" "${_root}/lib64/${_l}" SYMBOLIC)
      endif()
      if(_l MATCHES "^(lib.*\\.so)\\.[0-9.]+$")
        set(_unversioned "${CMAKE_MATCH_1}")
        if(NOT EXISTS "${_root}/lib64/${_unversioned}")
          file(CREATE_LINK "${_dir}/${_l}" "${_root}/lib64/${_unversioned}" SYMBOLIC)
        endif()
      endif()
    endforeach()
  endforeach()
  set(CMAKE_CUDA_COMPILER "${_root}/bin/nvcc" CACHE FILEPATH "CUDA compiler" FORCE)
  set(CUDAToolkit_ROOT "${_root}" CACHE PATH "CUDA toolkit (links to torch's pip packages)" FORCE)
  set(CUDA_TOOLKIT_ROOT_DIR "${_root}" CACHE PATH "CUDA toolkit (links to torch's pip packages)" FORCE)
  message(STATUS "gtr: nvcc from pip (${_gtr_pip_nvcc}); toolkit root of links ${_root}")
elseif(CMAKE_CUDA_COMPILER OR DEFINED ENV{CUDACXX} OR _gtr_path_nvcc)
  # The toolkit's own headers then; of the pip packages only NCCL's (below), so that two CUDA
  # runtimes' headers are never mixed.
  set(GTR_PIP_CUDA_INCLUDE_DIRS "")
  message(STATUS "gtr: nvcc from the system toolkit (CMAKE_CUDA_COMPILER / CUDACXX / PATH)")
else()
  message(FATAL_ERROR "gtr: torch has CUDA ${GTR_TORCH_CUDA_MAJOR} but no nvcc was found. Install the CUDA "
                      "toolkit's compiler of the same version from pip: pip install \"cuda-toolkit[nvcc,cccl]==<the "
                      "version torch requires>\" (scripts/check-cuda-build.sh does), or set CMAKE_CUDA_COMPILER; "
                      "or build without CUDA: GTR_WITH_CUDA=0")
endif()
if(NOT GTR_NCCL_INCLUDE_DIR)
  find_path(GTR_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_ROOT} ENV CUDA_HOME PATH_SUFFIXES include)
endif()
