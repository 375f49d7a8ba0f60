/* Group commit on this machine's disk, outside Sealstream (README, Durability): one writer
 * appends 800 bytes every 100 us (5 records of 160 B: 50k records/s) to a file; LANES sync
 * threads each call fdatasync whenever unsynced bytes exist and they are idle (as
 * Sources/Host/JournalSync.swift does); each write's latency runs from its due time to
 * the end of the first sync that covers it. MODE append: the file grows (O_APPEND, as the
 * journal's segments do), so every fdatasync also commits the size through ext4's journal;
 * MODE zeroed: the file is written with zeros and synced first, then overwritten, so
 * fdatasync writes data only; MODE fallocate: the file is fallocate(2)d to 64 MiB and synced
 * first, then overwritten: its extents are allocated but *unwritten*, so each first write to
 * a block converts the extent, which is a metadata change fdatasync must commit too.
 * FILL (optional, default none): a second thread writes a 64 MiB file of zeros 1 s into the
 * run, as the host's segment filler makes its spare (Sources/Host/JournalSegmentFiller.swift):
 * burst = 1 MiB pwrites then one fsync (the filler before session 12); paced = 256 KiB
 * pwrites, each written back with sync_file_range(WAIT_BEFORE|WRITE|WAIT_AFTER) before the
 * next, then fsync. Prints the fill's duration and the latency of the writes made during it.
 * GROUPCOMMIT_NOSYNC set: the sync thread marks bytes durable without calling fdatasync
 * (the writer's own CPU and wake-ups, without the disk; bench-journal.sh's `offcpu`).
 * Usage: cc -O2 -pthread -o /tmp/groupcommit Benchmarks/fsync/groupcommit.c
 *        /tmp/groupcommit append|zeroed|fallocate LANES WRITES [none|burst|paced]
 *        (the files are made in $TMPDIR or /tmp) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
#define MAXW 200000
int nosync; int fd; long written=0, requested=0, durable=0; int stop=0; pthread_mutex_t mu=PTHREAD_MUTEX_INITIALIZER; pthread_cond_t cv=PTHREAD_COND_INITIALIZER, dcv=PTHREAD_COND_INITIALIZER;
long wend[MAXW]; double wt[MAXW], lat[MAXW]; int nw=0; int nsync=0; int firstp=0;
void*syncer(void*a){
  pthread_mutex_lock(&mu);
  while(!stop){
    if(written>requested){long p=written;requested=p;pthread_mutex_unlock(&mu);if(!nosync)fdatasync(fd);pthread_mutex_lock(&mu);nsync++;if(p>durable){durable=p;double t=now();while(firstp<nw&&wend[firstp]<=p){lat[firstp]=t-wt[firstp];firstp++;}}}
    else pthread_cond_wait(&cv,&mu);
  }
  pthread_mutex_unlock(&mu);return 0;}
const char*fillmode="none"; char fillpath[4200]; double fillstart=0, fillend=0;
void*filler(void*a){
  double t0=*(double*)a; while(now()<t0+1e6)usleep(1000);
  int paced=!strcmp(fillmode,"paced"); long chunk=paced?(256<<10):(1<<20);
  char*z=calloc(1,chunk); int f=open(fillpath,O_RDWR|O_CREAT|O_TRUNC|O_CLOEXEC,0600);
  fillstart=now();
  for(long o=0;o<(64L<<20);o+=chunk){if(pwrite(f,z,chunk,o)!=chunk){perror("fill");exit(1);}
    if(paced)sync_file_range(f,o,chunk,SYNC_FILE_RANGE_WAIT_BEFORE|SYNC_FILE_RANGE_WRITE|SYNC_FILE_RANGE_WAIT_AFTER);}
  fsync(f); fillend=now(); close(f); unlink(fillpath); free(z); return 0;}
int main(int argc,char**argv){
  nosync=getenv("GROUPCOMMIT_NOSYNC")!=0;
  const char*mode=argv[1]; int threads=atoi(argv[2]); int n=atoi(argv[3]); if(n>MAXW)n=MAXW; if(threads>8)threads=8;
  char path[4096]; snprintf(path,sizeof path,"%s/groupcommit.%d",getenv("TMPDIR")?getenv("TMPDIR"):"/tmp",getpid());
  fd=open(path,O_WRONLY|O_CREAT|O_CLOEXEC|(strcmp(mode,"append")?0:O_APPEND),0600);
  if(!strcmp(mode,"zeroed")){char*z=calloc(1,1<<20);for(int o=0;o<64;o++)write(fd,z,1<<20);fdatasync(fd);lseek(fd,0,SEEK_SET);}
  if(!strcmp(mode,"fallocate")){if(fallocate(fd,0,0,64<<20)!=0){perror("fallocate");return 1;}fsync(fd);}
  pthread_t th[8];for(int i=0;i<threads;i++)pthread_create(&th[i],0,syncer,0);
  char buf[800];memset(buf,7,sizeof buf);
  double start=now();
  pthread_t ft; if(argc>4){fillmode=argv[4];} if(strcmp(fillmode,"none")){snprintf(fillpath,sizeof fillpath,"%s.spare",path);pthread_create(&ft,0,filler,&start);}
  for(int i=0;i<n;i++){ /* 5 records of 160 B every 100 us = 50k/s */
    double due=start+i*100.0; while(now()<due){struct timespec s={0,20000};nanosleep(&s,0);}
    write(fd,buf,sizeof buf);
    pthread_mutex_lock(&mu);written+=sizeof buf;wend[nw]=written;wt[nw]=due;lat[nw]=-1;nw++;pthread_cond_signal(&cv);pthread_mutex_unlock(&mu);
  }
  for(;;){pthread_mutex_lock(&mu);int ok=durable>=written;pthread_mutex_unlock(&mu);if(ok)break;usleep(1000);}
  pthread_mutex_lock(&mu);stop=1;pthread_cond_broadcast(&cv);pthread_mutex_unlock(&mu);
  for(int i=0;i<threads;i++)pthread_join(th[i],0);
  if(strcmp(fillmode,"none")){pthread_join(ft,0);
    static double dur[MAXW]; int nd=0; for(int i=0;i<nw;i++) if(wt[i]>=fillstart&&wt[i]<=fillend) dur[nd++]=lat[i];
    qsort(dur,nd,sizeof(double),cmp);
    if(nd) printf("fill %-5s %.0f ms; the %d writes due during it: p50 %.0f p99 %.0f max %.0f us\n",fillmode,(fillend-fillstart)/1e3,nd,dur[nd/2],dur[nd*99/100],dur[nd-1]);}
  qsort(lat,nw,sizeof(double),cmp);
  printf("%-7s threads %d: %d syncs (%.1f writes/sync) latency p50 %.0f p90 %.0f p99 %.0f p99.9 %.0f us\n",mode,threads,nsync,(double)nw/nsync,lat[nw/2],lat[nw*9/10],lat[nw*99/100],lat[nw*999/1000]);
  unlink(path);return 0;}
