/* emu_symbols.cpp — what the CUDA emulator reads from its own module's ELF symbol table: the
 * static __shared__ variables (`static thread_local` in the emulation build, so STT_TLS symbols
 * with TLS-segment offsets and sizes) and the kernels' names, which give each kernel's static
 * shared memory bytes (the launch limit) and name the variable of a racecheck report.
 *
 * The module is the executable or shared object that holds this file (dladdr); its file is read
 * once, on first use, under a mutex; afterwards everything is read-only (thread-safe). A
 * stripped module has no .symtab: then static shared memory counts as 0 bytes and the race
 * checker sees only dynamic shared memory (say so: symbols_ok()). */
#include <cxxabi.h>
#include <link.h>
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "emu_internal.h"

namespace lbemu {
namespace {

struct Symbols {
    bool ok = false;
    std::vector<SharedVar> shared;                      /* sorted by offset */
    std::unordered_map<uintptr_t, std::string> funcs;   /* run-time address → mangled name */
    size_t threadidx_off = 0;                           /* lb_emu_threadIdx's TLS offset */
};

/* A static __shared__ variable: a local TLS symbol of C++ code (function-local "_ZZ…" or
 * file-scope "_ZL…"), not one of the emulator's own thread-locals (namespace lbemu). */
bool is_shared_candidate(const char *name) {
    if (strncmp(name, "_ZZ", 3) != 0 && strncmp(name, "_ZL", 3) != 0) return false;
    return !strstr(name, "lbemu") && !strstr(name, "lb_emu");
}

/* The module holding `addr`: its file (the main program: /proc/self/exe) and load bias. */
struct Module {
    uintptr_t addr;
    std::string path;
    uintptr_t bias;
    bool found;
};

int find_module(struct dl_phdr_info *info, size_t, void *arg) {
    Module *m = (Module *)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
        if (ph.p_type == PT_LOAD && m->addr >= lo && m->addr - lo < ph.p_memsz) {
            m->path = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "/proc/self/exe";
            m->bias = info->dlpi_addr;
            m->found = true;
            return 1;
        }
    }
    return 0;
}

void load(Symbols *s) {
    Module mod{(uintptr_t)&lb_emu_launch_raw, std::string(), 0, false};
    dl_iterate_phdr(find_module, &mod);
    if (!mod.found) return;
    int fd = open(mod.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(Elf64_Ehdr)) {
        close(fd);
        return;
    }
    size_t len = (size_t)st.st_size;
    void *m = mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return;
    const unsigned char *base = (const unsigned char *)m;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shoff == 0 || eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > len) {
        munmap(m, len);
        return;
    }
    const uintptr_t bias = mod.bias;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(base + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
        const Elf64_Shdr &strs = sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > len || strs.sh_offset + strs.sh_size > len) continue;
        const Elf64_Sym *sym = (const Elf64_Sym *)(base + sh[i].sh_offset);
        const size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
        const char *str = (const char *)(base + strs.sh_offset);
        for (size_t k = 0; k < n; k++) {
            if (sym[k].st_name >= strs.sh_size) continue;
            const char *name = str + sym[k].st_name;
            const int type = ELF64_ST_TYPE(sym[k].st_info);
            if (type == STT_FUNC && sym[k].st_value) {
                s->funcs.emplace((uintptr_t)sym[k].st_value + bias, name);
            } else if (type == STT_TLS) {
                if (strcmp(name, "lb_emu_threadIdx") == 0) {
                    s->threadidx_off = (size_t)sym[k].st_value;
                    s->ok = true;
                } else if (ELF64_ST_BIND(sym[k].st_info) == STB_LOCAL && sym[k].st_size &&
                           is_shared_candidate(name)) {
                    s->shared.push_back(SharedVar{(size_t)sym[k].st_value, (size_t)sym[k].st_size, name});
                }
            }
        }
    }
    munmap(m, len);
    std::sort(s->shared.begin(), s->shared.end(),
              [](const SharedVar &a, const SharedVar &b) { return a.off < b.off; });
}

const Symbols &symbols() {
    static std::once_flag once;
    static Symbols *s = nullptr;
    std::call_once(once, [] {
        s = new Symbols; /* never freed: read-only for the process's life */
        load(s);
    });
    return *s;
}

std::mutex g_static_m;
std::map<const void *, size_t> g_static; /* kernel → static shared bytes (cache) */

} // namespace

bool symbols_ok(void) { return symbols().ok; }

const std::vector<SharedVar> &shared_vars(void) { return symbols().shared; }

uintptr_t tls_block_base(void) {
    return (uintptr_t)&lb_emu_threadIdx - symbols().threadidx_off;
}

size_t kernel_static_smem(const void *kernel) {
    {
        std::lock_guard<std::mutex> g(g_static_m);
        auto it = g_static.find(kernel);
        if (it != g_static.end()) return it->second;
    }
    const Symbols &s = symbols();
    size_t bytes = 0;
    auto f = s.funcs.find((uintptr_t)kernel);
    if (f != s.funcs.end() && f->second.compare(0, 2, "_Z") == 0) {
        /* a local static of function _Z<encoding> is _ZZ<encoding>E<name> */
        const std::string prefix = "_ZZ" + f->second.substr(2) + "E";
        for (const SharedVar &v : s.shared)
            if (v.name.compare(0, prefix.size(), prefix) == 0) bytes += v.size;
    }
    std::lock_guard<std::mutex> g(g_static_m);
    g_static[kernel] = bytes;
    return bytes;
}

std::string kernel_symbol(const void *kernel) {
    const Symbols &s = symbols();
    auto f = s.funcs.find((uintptr_t)kernel);
    return f == s.funcs.end() ? std::string() : demangle(f->second);
}

std::string demangle(const std::string &name) {
    int status = 0;
    char *d = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
    std::string r = status == 0 && d ? d : name;
    free(d);
    return r;
}

} // namespace lbemu
