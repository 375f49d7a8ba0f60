/* What one fdatasync costs the filesystem, by how the file was prepared (docs/DURABILITY.md §3,
 * *preallocated segments*): N times, write 4 KiB (append: at the end, growing the file;
 * fallocate: over a fallocate(2)d range, i.e. unwritten extents; zeroed: over zeros written and
 * synced first) and fdatasync, counting the block device's completed writes and flushes
 * (/sys/block/DEV/stat, fields 5 and 16) per sync. Run it on a filesystem only it writes (a
 * loop-mounted ext4 made for it) so the counts are its own; /proc/fs/jbd2/DEV-8/info's first
 * number before and after gives the ext4 journal commits.
 * Usage: cc -O2 -o /tmp/commits Benchmarks/fsync/commits.c
 *        PROBE_DIR=/mnt/test /tmp/commits append|fallocate|zeroed N /sys/block/loop0/stat */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
static long fl=0;static long tx(const char*p){FILE*f=fopen(p,"r");long a[17]={0};for(int i=0;i<17;i++)if(fscanf(f,"%ld",&a[i])!=1)break;fclose(f);fl=a[15];return a[4];}
int main(int c,char**v){const char*mode=v[1];int n=atoi(v[2]);const char*info=v[3];
 char path[256];snprintf(path,sizeof path,"%s/jbdprobe.%d",getenv("PROBE_DIR")?getenv("PROBE_DIR"):"/tmp",getpid());
 int fd=open(path,O_RDWR|O_CREAT|O_TRUNC|(strcmp(mode,"append")?0:O_APPEND),0600);
 long size=(long)n*4096+(1<<20);
 if(!strcmp(mode,"zeroed")){char*z=calloc(1,1<<20);for(long o=0;o<size;o+=1<<20)pwrite(fd,z,1<<20,o);fsync(fd);}
 if(!strcmp(mode,"fallocate")){fallocate(fd,0,0,size);fsync(fd);}
 sleep(1);
 char buf[4096];memset(buf,7,sizeof buf);
 long t0=tx(info);long f0=fl;double total=0,mx=0;double*d=malloc(n*sizeof(double));
 for(int i=0;i<n;i++){ if(!strcmp(mode,"append"))write(fd,buf,4096);else pwrite(fd,buf,4096,(long)i*4096);
   double s=now();fdatasync(fd);double e=now()-s;total+=e;d[i]=e;if(e>mx)mx=e;}
 long t1=tx(info);long f1=fl;
 int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
 qsort(d,n,sizeof(double),cmp);
 printf("%-9s %d fdatasyncs: disk writes %.2f, flushes %.2f per sync; fdatasync mean %.0f p50 %.0f p99 %.0f max %.0f us\n",mode,n,(double)(t1-t0)/n,(double)(f1-f0)/n,total/n,d[n/2],d[n*99/100],mx);
 unlink(path);return 0;}
